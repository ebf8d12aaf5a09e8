"""Cost explorer: totals per agent, model, provider, user, API key, tool or status over a range,
filtered by agent, model, user or tool; every choice lives in the URL, and a CSV has the table."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from aggregates import selectors
from dashboard import charts
from dashboard.views.common import HtmxHttpRequest, Page, project_page, query_string
from dashboard.views.scores import with_quality
from pricing.money import decimal_string
from scores import selectors as score_selectors

GROUP_LABELS = {
    "agent": "Agent",
    "model": "Model",
    "provider": "Provider",
    "user": "User",
    "api_key": "API key",
    "tool": "Tool",
    "status": "Status",
}
# Clicking a row filters on it and regroups by what is most useful next.
DRILL = {"agent": "model", "model": "agent", "user": "agent", "tool": "agent"}
CSV_FIELDS = ("group", *selectors.ROW_FIELDS, "p50_ms", "p95_ms", "p99_ms")


def _choices(request: HtmxHttpRequest) -> tuple[str, dict[str, str]]:
    group_by = request.GET.get("group_by", "agent")
    if group_by not in GROUP_LABELS:
        group_by = "agent"
    filters = {name: request.GET[name] for name in selectors.FILTERS if name in request.GET}
    return group_by, filters


def _explore(page: Page, group_by: str, filters: dict[str, str]) -> dict[str, Any]:
    """Rows, total and chart for the choices; an explanation instead when no table holds them."""
    try:
        rows = selectors.summary(page.project, page.range, group_by=group_by, filters=filters)
    except selectors.QueryError as exc:
        return {"query_error": exc.message}
    metric = "errors" if rows["latency_of"] == "tool_call" else "cost"
    series = selectors.timeseries(
        page.project,
        page.range,
        metric=metric,
        interval=page.interval,
        group_by=group_by,
        filters=filters,
        tz=page.tz,
    )
    # Quality is rolled up per agent only: shown when the rows are agents, unfiltered but by agent.
    show_quality = False
    if group_by == "agent" and set(filters) <= {"agent"}:
        quality = score_selectors.quality_by(page.project, page.range, "agent_name")
        show_quality = with_quality(rows["rows"], quality)
    return {
        "show_quality": show_quality,
        "rows": rows["rows"],
        "total": rows["total"],
        "latency_of": rows["latency_of"],
        "chart_metric": metric,
        "chart": charts.stacked_bars(series, page.tz, money=metric == "cost"),
    }


@require_GET
@login_required
def cost(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    group_by, filters = _choices(request)
    explored = _explore(page, group_by, filters)
    drill = DRILL.get(group_by)
    for row in explored.get("rows", []):
        if drill:
            row["drill_url"] = query_string(request.GET, group_by=drill, **{group_by: row["group"] or ""})
    context = {
        **page.context(),
        "section": "cost",
        "group_by": group_by,
        "group_label": GROUP_LABELS[group_by],
        "groups": GROUP_LABELS.items(),
        "filters": [(name, value, query_string(request.GET, **{name: None})) for name, value in filters.items()],
        **explored,
    }
    template = "dashboard/cost.html"
    if request.htmx.target == "explorer":
        template += "#explorer"
    return render(request, template, context)


@require_GET
@login_required
def cost_csv(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    """The explorer's table as CSV (same URL parameters); cost in USD with full precision."""
    page = project_page(request, org, slug)
    group_by, filters = _choices(request)
    explored = _explore(page, group_by, filters)
    if "query_error" in explored:
        return HttpResponse(explored["query_error"], status=400, content_type="text/plain")
    name = "-".join(["cost", page.project.slug, group_by, *(slugify(v) for v in filters.values()), page.since])
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_FIELDS)
    for row in explored["rows"]:
        latency = row["latency_ms"]
        values = [row["group"], *(row[f] for f in selectors.ROW_FIELDS), latency["p50"], latency["p95"], latency["p99"]]
        values = [decimal_string(v) if isinstance(v, Decimal) else v for v in values]
        writer.writerow([spreadsheet_safe(v) for v in values])
    return response


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: agent, model and user names come from span attributes, so
    one named `=HYPERLINK(...)` would run as a formula when the CSV is opened (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
