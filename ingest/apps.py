from __future__ import annotations

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Intake"

    def ready(self) -> None:
        from ingest import native, receivers  # noqa: F401  receivers: connected on import

        native.check()
