"""Reads: a budget's current period, the projects it covers, its spend so far and projection."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from aggregates import selectors
from budgets.models import Budget
from ingest import timeranges
from ingest.timeranges import TimeRange
from tenancy.models import ApiKey, Project

log = logging.getLogger(__name__)


def period_range(period: str, tz: tzinfo, now: datetime) -> TimeRange:
    """The calendar day, week (from Monday) or month containing `now`, in the time zone."""
    today = now.astimezone(tz).date()
    if period == Budget.Period.DAY:
        first, after = today, today + timedelta(days=1)
    elif period == Budget.Period.WEEK:
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    else:
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return TimeRange(timeranges.local_midnight(first, tz), timeranges.local_midnight(after, tz))


def covering(project: Project) -> Q:
    """Budgets that cover a project's traffic: its own, and its organization's whole-organization
    budgets (which live in one project of the organization)."""
    return Q(project=project) | Q(scope=Budget.Scope.ORGANIZATION, project__organization_id=project.organization_id)


def budget_projects(budget: Budget) -> list[Project]:
    """The projects whose spend the budget counts."""
    if budget.scope == Budget.Scope.ORGANIZATION:
        return list(Project.objects.filter(organization_id=budget.project.organization_id).order_by("pk"))
    return [budget.project]


def _filters(budget: Budget) -> dict[str, str] | None:
    """Query filters for the budget's scope; None if the scope matches nothing (unknown key)."""
    if budget.is_whole:
        return {}
    if budget.scope == Budget.Scope.API_KEY:
        key_id = ApiKey.objects.filter(project_id=budget.project_id, prefix=budget.scope_value).values_list(
            "pk", flat=True
        )
        return {"api_key": str(key_id[0])} if key_id else None
    return {budget.scope: budget.scope_value}


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period: TimeRange
    spend: Decimal
    projected: Decimal

    @property
    def percent(self) -> Decimal:
        return self.spend * 100 / self.budget.amount_usd

    @property
    def crossed(self) -> list[Decimal]:
        return [Decimal(str(t)) for t in self.budget.thresholds if self.percent >= Decimal(str(t))]

    @property
    def state(self) -> str:
        """ok, warning (a threshold below 100% crossed) or exceeded (100% or more spent)."""
        if self.percent >= 100:
            return "exceeded"
        return "warning" if self.crossed else "ok"


def budget_status(budget: Budget, now: datetime | None = None) -> BudgetStatus:
    """Spend so far in the current period, and its linear projection to the period's end."""
    now = now or timezone.now()
    period = period_range(budget.period, budget.project.tz, now)
    filters = _filters(budget)
    spend = Decimal(0)
    if filters is not None:
        so_far = TimeRange(period.since, now)
        spend = sum((selectors.cost_total(p, so_far, filters) for p in budget_projects(budget)), Decimal(0))
    elapsed = (now - period.since).total_seconds()
    length = (period.until - period.since).total_seconds()
    projected = spend * Decimal(length) / Decimal(elapsed) if elapsed > 0 else spend
    return BudgetStatus(budget, period, spend, projected)
