from __future__ import annotations

from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"

    def ready(self) -> None:
        from budgets import receivers  # noqa: F401  (connects the per-run cap check to intake)
