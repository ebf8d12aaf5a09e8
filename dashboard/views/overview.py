"""Overview: the project's cost, runs, failures and latency over a range, with what changed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from aggregates import selectors as aggregate_selectors
from budgets import selectors as budget_selectors
from budgets.anomalies import series as anomaly_series
from dashboard import charts
from dashboard.views.common import HtmxHttpRequest, project_page
from dashboard.views.scores import with_quality
from ingest import selectors
from scores import selectors as score_selectors

STACKS = (("agent", "Agent"), ("model", "Model"))
TOP_ROWS = 8
ANOMALY_ROWS = 5


@require_GET
@login_required
def overview(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    project = page.project
    stack = request.GET.get("stack") if request.GET.get("stack") in dict(STACKS) else "agent"
    cost_series = aggregate_selectors.timeseries(
        project, page.range, metric="cost", interval=page.interval, group_by=stack, tz=page.tz
    )
    context: dict[str, Any] = {
        **page.context(),
        "section": "overview",
        "stack": stack,
        "stacks": STACKS,
        "cost_chart": charts.stacked_bars(cost_series, page.tz, money=True),
    }
    if request.htmx.target == "cost-chart-card":
        return render(request, "dashboard/overview.html#cost-chart-card", context)

    if not selectors.project_has_runs(project):
        return render(request, "dashboard/overview.html", {**context, "empty": True})
    by_agent = aggregate_selectors.summary(project, page.range, group_by="agent")
    totals, agents = by_agent["total"], by_agent["rows"]
    before = aggregate_selectors.summary(project, page.previous)["total"]
    models = aggregate_selectors.summary(project, page.range, group_by="model")["rows"]
    tools = aggregate_selectors.summary(project, page.range, group_by="tool")["rows"]
    failing_tools = sorted((t for t in tools if t["tool_errors"]), key=lambda t: (-t["tool_errors"], str(t["group"])))
    statuses = budget_selectors.budget_statuses(budget_selectors.budgets_of_project(project))
    shown_quality = with_quality(agents, score_selectors.quality_by(project, page.range, "agent_name"))
    context.update(
        show_quality=shown_quality,
        totals=totals,
        before=before,
        failure_rate=_rate(totals["failed_runs"], totals["runs"]),
        failure_rate_before=_rate(before["failed_runs"], before["runs"]),
        agents=agents[:TOP_ROWS],
        models=models[:TOP_ROWS],
        model_cost_chart=charts.share(models, "cost_usd", money=True),
        model_calls_chart=charts.share(models, "llm_calls"),
        failing_tools=failing_tools[:TOP_ROWS],
        budgets=sorted(statuses, key=lambda s: -s.percent)[:TOP_ROWS],
        alerts=budget_selectors.recent_alerts(project)[:TOP_ROWS],
        anomalies=anomaly_series.recent_anomalies(project)[:ANOMALY_ROWS],
    )
    return render(request, "dashboard/overview.html", context)


def _rate(part: int | None, whole: int | None) -> float | None:
    return (part or 0) / whole if whole else None
