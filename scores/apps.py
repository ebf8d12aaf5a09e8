from __future__ import annotations

from django.apps import AppConfig


class ScoresConfig(AppConfig):
    name = "scores"
    verbose_name = "Scores and evaluations"

    def ready(self) -> None:
        from scores import receivers  # noqa: F401  (turns intake's evaluation events into scores)
