"""Reads: a project's scores, filtered (the API) or of one run (the run page), and their
aggregates from the hourly rollups (the Scores page, quality beside cost)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDay

from ingest import timeranges
from ingest.models import Run
from ingest.timeranges import TimeRange
from scores.models import Score, ScoreRollup
from tenancy.models import Project


def scores_for_project(
    project: Project,
    *,
    span: TimeRange | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    name: str | None = None,
    source: str | None = None,
    author: str | None = None,
) -> QuerySet[Score]:
    """The project's scores, created in the range when one is given."""
    scores = Score.objects.filter(project=project)
    if span is not None:
        scores = scores.filter(created_at__gte=span.since, created_at__lt=span.until)
    for field, value in (
        ("trace_id", trace_id),
        ("span_id", span_id),
        ("name", name),
        ("source", source),
        ("author", author),
    ):
        if value is not None:
            scores = scores.filter(**{field: value})
    return scores


def run_scores(project: Project, trace_id: str) -> list[Score]:
    """Every score of one run (its spans' included), by name, then source and author."""
    return list(Score.objects.filter(project=project, trace_id=trace_id).order_by("name", "source", "author", "pk"))


# --- Aggregates (from the hourly score rollups) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quality:
    """Scores of a group over a range: `pass_rate` over its pass/fail scores, `mean` over all."""

    scores: int
    value_sum: float
    booleans: int
    passed: int
    runs: int
    cost_usd: Decimal
    passing_runs: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.booleans if self.booleans else None

    @property
    def mean(self) -> float | None:
        return self.value_sum / self.scores if self.scores else None


_SUMS = ("scores", "value_sum", "booleans", "passed", "runs", "cost_usd", "passing_runs")


def _rollups(project: Project, span: TimeRange) -> QuerySet[ScoreRollup]:
    return ScoreRollup.objects.filter(
        project=project, bucket__gte=timeranges.floor_hour(span.since), bucket__lt=span.until
    ).order_by()


def _quality(row: dict[str, Any]) -> Quality:
    sums: dict[str, Any] = {name: row[f"agg_{name}"] or 0 for name in _SUMS}
    return Quality(**sums)


def quality_by(project: Project, span: TimeRange, dimension: str) -> dict[str, Quality]:
    """Quality per agent_name or per score name over the range."""
    rows = _rollups(project, span).values(dimension).annotate(**{f"agg_{n}": Sum(n) for n in _SUMS})
    return {row[dimension]: _quality(row) for row in rows}


def quality_trend(project: Project, span: TimeRange, *, interval: str, tz: tzinfo) -> dict[str, Any]:
    """Per score name, its pass rate (pass/fail scores) or else its mean, per hour or local day:
    shaped like ingest.selectors.timeseries, for dashboard.charts.lines."""
    rows = _rollups(project, span)
    if interval == "day":
        rows = rows.annotate(point=TruncDay("bucket", tzinfo=tz))
        starts = timeranges.local_days(span.since, span.until, tz)
    else:
        rows = rows.annotate(point=F("bucket"))
        starts = timeranges.hours(span.since, span.until)
    points: dict[str, dict[datetime, Quality]] = defaultdict(dict)
    for row in rows.values("name", "point").annotate(**{f"agg_{n}": Sum(n) for n in _SUMS}):
        points[row["name"]][row["point"]] = _quality(dict(row))
    series = []
    for name in sorted(points):
        by_point = points[name]
        rates = any(q.booleans for q in by_point.values())
        values = [_trend_value(by_point.get(start), rates) for start in starts]
        series.append({"group": f"{name} (pass rate)" if rates else f"{name} (mean)", "values": values})
    return {"buckets": starts, "series": series}


def _trend_value(quality: Quality | None, rates: bool) -> float | None:
    if quality is None:
        return None
    return quality.pass_rate if rates else quality.mean


def value_distribution(project: Project, name: str, span: TimeRange) -> Counter[str]:
    """How often each value (or label) of the named score was given to the runs of the range."""
    counts: Counter[str] = Counter()
    values = _of_runs_in(project, name, span).values_list("data_type", "value", "label")
    for data_type, value, label in values.iterator(chunk_size=2000):
        if data_type == Score.DataType.BOOLEAN:
            counts["pass" if value is not None and value >= 1 else "fail"] += 1
        elif data_type == Score.DataType.CATEGORICAL or value is None:
            counts[label or "(none)"] += 1
        else:
            counts[f"{value:g}"] += 1
    return counts


def lowest_scored(project: Project, name: str, span: TimeRange, limit: int = 20) -> list[Score]:
    """The runs of the range with the lowest values of the named score (fails first)."""
    return list(_of_runs_in(project, name, span).exclude(value=None).order_by("value", "-created_at", "pk")[:limit])


def _of_runs_in(project: Project, name: str, span: TimeRange) -> QuerySet[Score]:
    """The named score of the runs that started in the range (as the rollups count them)."""
    runs = Run.objects.filter(project=project, start_time__gte=span.since, start_time__lt=span.until)
    return Score.objects.filter(project=project, name=name, trace_id__in=runs.values("trace_id"))


def scores_of_runs(project: Project, trace_ids: list[str]) -> dict[str, list[Score]]:
    """The scores of these runs (the runs list shows them), by trace id."""
    found: dict[str, list[Score]] = defaultdict(list)
    for score in Score.objects.filter(project=project, trace_id__in=trace_ids).order_by("name", "source", "pk"):
        found[score.trace_id].append(score)
    return found


def score_names(project: Project) -> list[str]:
    return list(Score.objects.filter(project=project).order_by("name").values_list("name", flat=True).distinct()[:200])


def traces_with_score(
    project: Project, name: str, *, result: str = "", below: float | None = None
) -> QuerySet[Score, Any]:
    """Trace ids of the project's runs with the named score: passed or failed (pass/fail
    scores), below a value (numeric ones), or any value."""
    found = Score.objects.filter(project=project, name=name)
    if result == "pass":
        found = found.filter(data_type=Score.DataType.BOOLEAN, value__gte=1)
    elif result == "fail":
        found = found.filter(data_type=Score.DataType.BOOLEAN, value__lt=1)
    if below is not None:
        found = found.filter(value__lt=below)
    return found.values("trace_id")
