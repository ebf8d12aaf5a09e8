"""Budgets test data: spend put in through real intake and rollups."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from budgets.models import Budget
from ingest import rollups
from ingest.models import Project
from tests.ingest.spans import agent_run, ingest


def spend(project: Project, start: datetime, cost: str, *, agent: str = "support-bot", **kwargs: Any) -> None:
    """One run of `agent` costing `cost`, rolled up."""
    ingest(project, agent_run(start, agent=agent, calls=[("gpt-test", cost, 1.0)], **kwargs))
    rollups.rollup_until_current()


def make_budget(project: Project, amount: str = "10", **kwargs: Any) -> Budget:
    fields: dict[str, Any] = {
        "name": "Support bot daily",
        "scope": Budget.Scope.AGENT,
        "scope_value": "support-bot",
        "period": Budget.Period.DAY,
    }
    fields.update(kwargs)
    return Budget.objects.create(project=project, amount_usd=Decimal(amount), **fields)
