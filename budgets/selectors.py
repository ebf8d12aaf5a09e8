"""Reads: which budgets apply to a caller, and where each stands."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from budgets import spending
from budgets.models import Alert, Budget
from tenancy.models import ApiKey, Project


def budgets_applicable(
    project: Project,
    *,
    agent: str | None = None,
    user: str | None = None,
    model: str | None = None,
    api_key: ApiKey | None = None,
) -> QuerySet[Budget]:
    """Enabled budgets of the project that cover work with these attributes."""
    match = Q(scope__in=[Budget.Scope.PROJECT, Budget.Scope.ORGANIZATION])
    for scope, value in ((Budget.Scope.AGENT, agent), (Budget.Scope.USER, user), (Budget.Scope.MODEL, model)):
        if value:
            match |= Q(scope=scope, scope_value=value)
    if api_key is not None:
        match |= Q(scope=Budget.Scope.API_KEY, scope_value=api_key.prefix)
    return (
        Budget.objects.filter(match, spending.covering(project), enabled=True)
        .select_related("project__organization")
        .order_by("pk")
    )


def budget_statuses(budgets: QuerySet[Budget], now: datetime | None = None) -> list[spending.BudgetStatus]:
    return [spending.budget_status(budget, now) for budget in budgets]


def budgets_of_project(project: Project) -> QuerySet[Budget]:
    """The enabled budgets covering the project, its organization's included."""
    return (
        Budget.objects.filter(spending.covering(project), enabled=True)
        .select_related("project__organization")
        .order_by("pk")
    )


def recent_alerts(project: Project) -> QuerySet[Alert]:
    """The project's budget, anomaly and monitor alerts, newest first."""
    return (
        Alert.objects.filter(
            Q(budget__in=Budget.objects.filter(spending.covering(project)))
            | Q(anomaly_rule__project=project)
            | Q(monitor__project=project)
        )
        .select_related("budget", "anomaly_rule", "monitor")
        .order_by("-created_at", "-pk")
    )
