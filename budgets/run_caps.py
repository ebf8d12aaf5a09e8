"""Per-run caps: an Alert for each run over a budget's per-run cost or tool-call cap, checked as
spans arrive (budgets/receivers.py) and again by the rollup pass, once per budget, cap and run."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from budgets import signals
from budgets.models import Alert, Budget
from budgets.spending import budget_projects, covering
from ingest import selectors
from ingest.models import Run
from tenancy.models import Project

log = logging.getLogger(__name__)


RUN_CAP_LOOKBACK = timedelta(hours=1)  # the rollup-pass backstop re-checks runs updated this recently


def capped_budgets_everywhere() -> QuerySet[Budget]:
    """Enabled budgets with a per-run cost or tool-call cap."""
    return Budget.objects.filter(
        Q(run_cost_cap_usd__isnull=False) | Q(run_tool_call_cap__isnull=False), enabled=True
    ).select_related("project__organization")


def capped_budgets(project: Project) -> QuerySet[Budget]:
    """The capped budgets covering the project's runs."""
    return capped_budgets_everywhere().filter(covering(project))


def projects_with_caps(project: Project | None = None) -> list[Project]:
    """The projects (all, or just this one) whose runs some capped budget covers."""
    if project is not None:
        return [project] if capped_budgets(project).exists() else []
    ids: set[int] = set()
    for budget in capped_budgets_everywhere():
        ids.update(p.pk for p in budget_projects(budget))
    return list(Project.objects.filter(pk__in=ids).order_by("pk"))


def runs_in_scope(budget: Budget, runs: QuerySet[Run]) -> QuerySet[Run]:
    """The runs a budget's scope covers (a model budget: runs with a call to that model)."""
    if budget.scope == Budget.Scope.AGENT:
        return runs.filter(agent_name=budget.scope_value)
    if budget.scope == Budget.Scope.USER:
        return runs.filter(user_id=budget.scope_value)
    if budget.scope == Budget.Scope.API_KEY:
        return runs.filter(api_key__prefix=budget.scope_value)
    if budget.scope == Budget.Scope.MODEL:
        return runs.filter(trace_id__in=selectors.traces_calling_model(budget.project, budget.scope_value))
    return runs


def check_run_caps(project: Project, runs: QuerySet[Run], now: datetime | None = None) -> int:
    """Create an alert for each of these runs over a per-run cap of a budget covering it (once
    per budget, cap and run); returns how many were new."""
    now = now or timezone.now()
    new: list[Alert] = []
    for budget in capped_budgets(project):
        scoped = runs_in_scope(budget, runs)
        caps = (
            (Alert.Kind.RUN_COST, budget.run_cost_cap_usd, "cost_usd"),
            (Alert.Kind.RUN_TOOL_CALLS, budget.run_tool_call_cap, "tool_calls"),
        )
        for kind, cap, field in caps:
            if cap is None:
                continue
            for trace_id, start, value in scoped.filter(**{f"{field}__gte": cap}).values_list(
                "trace_id", "start_time", field
            ):
                new.append(
                    Alert(
                        budget=budget,
                        kind=kind,
                        trace_id=trace_id,
                        period_start=start,
                        threshold=100,
                        spend=Decimal(value),
                        amount=Decimal(cap),
                        next_attempt_at=now,
                    )
                )
    if new:
        existing = set(
            Alert.objects.filter(
                budget_id__in={a.budget_id for a in new},
                kind__in=[a.kind for a in new],
                trace_id__in={a.trace_id for a in new},
            ).values_list("budget_id", "kind", "trace_id")
        )
        new = [a for a in new if (a.budget_id, a.kind, a.trace_id) not in existing]
        Alert.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent check may have won
    if new:
        signals.alerts_created.send(sender=Alert)
    return len(new)
