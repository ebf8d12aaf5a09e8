from __future__ import annotations

from django.apps import AppConfig


class AggregatesConfig(AppConfig):
    name = "aggregates"
    verbose_name = "Aggregates"

    def ready(self) -> None:
        from aggregates import receivers, tasks  # noqa: F401  (receivers connect, tasks register, on import)
