from __future__ import annotations

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Intake and tenancy"

    def ready(self) -> None:
        from ingest import native

        native.check()
