"""Budget evaluation: writes an Alert row per newly crossed threshold (the outbox in
budgets/delivery delivers it).

Evaluation recomputes each budget's spend for the current period from the rollups and inserts
an Alert per crossed threshold, ignoring conflicts on (budget, period_start, threshold): running
twice, or on two workers at once, never makes a second row. A threshold that is no longer crossed
(the amount was raised) has its row for the period deleted, so it fires again when re-crossed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from budgets import run_caps, signals
from budgets.models import Alert, Budget
from budgets.spending import budget_status, covering
from ingest.models import Run
from tenancy.models import Project

log = logging.getLogger(__name__)


def evaluate_budgets(project: Project | None = None, now: datetime | None = None) -> int:
    """Create the Alert rows of every newly crossed threshold; returns how many were new."""
    now = now or timezone.now()
    budgets = Budget.objects.filter(enabled=True).select_related("project__organization")
    if project is not None:
        budgets = budgets.filter(covering(project))
    created = sum(evaluate_budget(budget, now) for budget in budgets)
    for capped in run_caps.projects_with_caps(project):
        recent = Run.objects.filter(project=capped, updated_at__gte=now - run_caps.RUN_CAP_LOOKBACK)
        created += run_caps.check_run_caps(capped, recent, now)
    if created:
        signals.alerts_created.send(sender=Alert)
    return created


def evaluate_budget(budget: Budget, now: datetime) -> int:
    status = budget_status(budget, now)
    crossed = status.crossed
    with transaction.atomic():
        period_alerts = Alert.objects.filter(budget=budget, period_start=status.period.since)
        period_alerts.exclude(threshold__in=crossed).delete()  # re-arm what is no longer crossed
        existing = set(period_alerts.values_list("threshold", flat=True))
        new = [
            Alert(
                budget=budget,
                period_start=status.period.since,
                threshold=threshold,
                spend=status.spend,
                amount=budget.amount_usd,
                projected=status.projected,
                next_attempt_at=now,
            )
            for threshold in crossed
            if threshold not in existing
        ]
        Alert.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
