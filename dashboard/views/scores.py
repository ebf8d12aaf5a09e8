"""The Scores page: every score name over the range (count, mean, pass rate), the trend of one,
how its values are spread, and the runs that scored lowest."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import charts
from dashboard.views.common import HtmxHttpRequest, project_page
from ingest import selectors
from scores import selectors as score_selectors

LOWEST_RUNS = 20


@require_GET
@login_required
def scores(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    by_name = score_selectors.quality_by(page.project, page.range, "name")
    names = sorted(by_name)
    chosen = request.GET.get("name", "")
    if chosen not in by_name:
        chosen = names[0] if names else ""
    context: dict[str, Any] = {
        **page.context(),
        "section": "scores",
        "rows": [(name, by_name[name]) for name in names],
        "chosen": chosen,
        "has_any": bool(names) or bool(score_selectors.score_names(page.project)),
    }
    if chosen:
        trend = score_selectors.quality_trend(page.project, page.range, interval=page.interval, tz=page.tz)
        trend["series"] = [s for s in trend["series"] if s["group"].rsplit(" (", 1)[0] == chosen]
        distribution = score_selectors.value_distribution(page.project, chosen, page.range)
        lowest = score_selectors.lowest_scored(page.project, chosen, page.range, LOWEST_RUNS)
        runs = {r.trace_id: r for r in selectors.runs_by_trace_ids(page.project, [s.trace_id for s in lowest])}
        context.update(
            trend_chart=charts.lines(trend, page.tz),
            distribution_chart=charts.share(
                [{"group": label, "count": n} for label, n in distribution.most_common()], "count"
            ),
            lowest=[(score, runs.get(score.trace_id)) for score in lowest],
            quality=by_name[chosen],
        )
    return render(request, "dashboard/scores.html", context)


def with_quality(rows: list[dict[str, Any]], quality: dict[str, score_selectors.Quality]) -> bool:
    """Set each agent row's pass rate and cost per passing run (its cost over the runs expected
    to pass at that rate: evaluators sample, so the rate stands for every run). True if any agent
    has pass/fail scores, so a page shows the columns only when they say something."""
    shown = False
    for row in rows:
        q = quality.get(row["group"] or "")
        rate = q.pass_rate if q is not None else None
        row["pass_rate"] = rate
        row["cost_per_pass"] = None
        if rate and row.get("runs"):
            row["cost_per_pass"] = (row["cost_usd"] or Decimal(0)) / (Decimal(row["runs"]) * Decimal(str(rate)))
        shown = shown or rate is not None
    return shown
