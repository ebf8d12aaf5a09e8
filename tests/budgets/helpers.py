"""Budgets test data: spend put in through real intake and rollups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from aggregates import rollups
from aggregates.models import Period, RunRollup
from aggregates.sketches import Sketch
from budgets.models import Budget
from tenancy.models import Project
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


def hourly_rollups(
    project: Project,
    since: datetime,
    hours: int,
    *,
    agent: str = "support-bot",
    cost: Callable[[int], float] = lambda i: 2.0,
    runs: int = 40,
    failed: Callable[[int], int] = lambda i: 1,
    seed: int = 3,
) -> None:
    """Hour RunRollup rows written directly (as the rollups would): `cost(i)` dollars over
    `runs` runs of about 3 s each in hour i, with ±5% noise (fixed seed)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(hours):
        noise = 1 + rng.normal(0, 0.05, size=runs)
        rows.append(
            RunRollup(
                project=project,
                period=Period.HOUR,
                bucket=since + i * timedelta(hours=1),
                agent_name=agent,
                status="ok",
                runs=runs,
                failed_runs=failed(i),
                input_tokens=1000 * runs,
                output_tokens=500 * runs,
                cost_usd=Decimal(str(round(cost(i) * float(noise[0]), 6))),
                duration_sketch=Sketch.of(3000 * noise).to_bytes(),
            )
        )
    RunRollup.objects.bulk_create(rows)
