"""Budgets (progress this period, projection, alert history) and alerts: read-only pages; budgets
are edited in the admin or through the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from budgets import selectors as budget_selectors
from budgets.models import Alert
from dashboard.views.common import HtmxHttpRequest, project_page

ALERTS_PER_PAGE = 50


@require_GET
@login_required
def budgets(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    statuses = budget_selectors.budget_statuses(budget_selectors.budgets_of_project(page.project))
    recent = list(budget_selectors.recent_alerts(page.project).exclude(budget=None)[:200])
    history: dict[int, list[Alert]] = {}
    for alert in recent:  # anomaly and monitor alerts have no budget
        if alert.budget_id is not None:
            history.setdefault(alert.budget_id, []).append(alert)
    rows = [(status, history.get(status.budget.pk, [])[:5]) for status in statuses]
    return render(request, "dashboard/budgets.html", {**page.context(), "section": "budgets", "rows": rows})


@require_GET
@login_required
def alerts(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    queryset = budget_selectors.recent_alerts(page.project)
    pending = list(queryset.filter(sent_at=None)[:ALERTS_PER_PAGE])
    past = Paginator(queryset.exclude(sent_at=None), ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    template = "dashboard/alerts.html"
    if request.htmx.target == "past-alerts":
        template += "#past-alerts"
    context = {**page.context(), "section": "alerts", "pending": pending, "past": past}
    return render(request, template, context)
