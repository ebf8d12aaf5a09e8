"""Reads: the hourly series anomaly detection judges, from the hour rollups (never from runs).

One query per table: the run rows (cost, runs, failure rate, tokens per run, and p95 latency
from their merged duration sketches) and the tool-call rows (tool error rate). Each series is
per agent and for the whole project (tools: per tool and for the whole project). Counts (cost,
runs) are dense: an hour without rows is a zero, from the first hour the series appears; rates
skip empty hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import CharField, FloatField, Q, QuerySet, Sum
from django.db.models.functions import Cast

from aggregates import sketches
from aggregates.models import Period, RunRollup, ToolCallRollup
from budgets.anomalies import detection
from budgets.anomalies.detection import Detection, Point
from budgets.models import Alert
from ingest import timeranges
from scores.models import ScoreRollup
from tenancy.models import Project

PROJECT, AGENT, TOOL = "project", "agent", "tool"

SeriesKey = tuple[str, str]  # (scope, value): ("project", ""), ("agent", "support-bot"), ("tool", "search")
MetricSeries = dict[SeriesKey, list[Point]]


Ranges = list[tuple[datetime, datetime]]
WEEKS_BACK = (2, 3, 4)  # the weekly baseline's older weeks (the first is in the 7-day window)


def hourly_series(
    project: Project,
    since: datetime,
    until: datetime,
    *,
    weekly_from: datetime | None = None,
    score_names: Iterable[str | None] = (),
) -> dict[str, MetricSeries]:
    """metric -> series key -> points, for the hours in [since, until). With `weekly_from`, also
    the same hours 2 to 4 weeks before [weekly_from, until), for the day-of-week baseline of the
    hours judged from `weekly_from` on (a few hours each, rather than four weeks of every hour)."""
    ranges: Ranges = [(since, until)]
    if weekly_from is not None:
        slack = timeranges.HOUR  # a daylight-saving change moves the same local hour by one
        ranges += [(weekly_from - WEEK * w - slack, until - WEEK * w + slack) for w in WEEKS_BACK]
    out = _run_sums(project, ranges)
    out["tool_error_rate"] = _tool_errors(project, ranges)
    names = sorted({name for name in score_names if name})
    if names:
        out.update(_scores(project, ranges, names))
    return out


WEEK = timedelta(days=7)


# The bucket read as text and parsed once per distinct hour: Django's per-row datetime
# converter (SQLite) was most of the read time of a 500-agent project (bench/detection.py).
_BUCKET_TEXT = Cast("bucket", output_field=CharField())


class _Hours:
    def __init__(self) -> None:
        self._seen: dict[Any, datetime] = {}

    def parse(self, value: Any) -> datetime:
        """'2026-03-10 14:00:00' (SQLite, UTC) or '2026-03-10 14:00:00+00' (PostgreSQL) -> aware UTC."""
        hour = self._seen.get(value)
        if hour is None:
            hour = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            hour = hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour.astimezone(UTC)
            self._seen[value] = hour
        return hour


def _hours(model: Any, project: Project, ranges: Ranges) -> Any:
    within = Q()
    for since, until in ranges:
        within |= Q(bucket__gte=since, bucket__lt=until)
    rows = model.objects.filter(within, project=project).order_by()
    return rows if model is ScoreRollup else rows.filter(period=Period.HOUR)  # score rollups are hourly only


def _both(scope: str, name: str) -> tuple[SeriesKey, SeriesKey]:
    return (scope, name), (PROJECT, "")


def _run_sums(project: Project, ranges: Ranges) -> dict[str, MetricSeries]:
    """Cost, runs, failure rate, tokens per run and p95 latency, in one read of the hour rows.
    The rows are summed here rather than in SQL because their duration sketches must be read
    row by row anyway (to be merged); one query instead of two halves the read time."""
    rows = (
        _hours(RunRollup, project, ranges)
        .annotate(hour=_BUCKET_TEXT, cost=Cast("cost_usd", output_field=FloatField()))  # statistics, not accounting
        .values_list(
            "hour", "agent_name", "runs", "failed_runs", "cost", "input_tokens", "output_tokens", "duration_sketch"
        )
    )
    totals: dict[SeriesKey, dict[datetime, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    )
    keyed: list[tuple[Hashable, bytes | memoryview]] = []
    parser = _Hours()
    for text, agent, n, failed, cost, tokens_in, tokens_out, blob in rows.iterator(chunk_size=5000):
        bucket = parser.parse(text)
        for key in _both(AGENT, agent):
            acc = totals[key][bucket]
            acc[0] += n
            acc[1] += failed
            acc[2] += cost or 0.0
            acc[3] += tokens_in + tokens_out
            keyed.append(((key, bucket), blob))
    p95s = sketches.quantile_grouped(keyed, 0.95)
    out: dict[str, MetricSeries] = {"cost": {}, "runs": {}, "failure_rate": {}, "tokens_per_run": {}, "latency_p95": {}}
    for key, by_hour in totals.items():
        hours = _dense(by_hour, ranges)
        out["cost"][key] = [Point(h, by_hour[h][2] if h in by_hour else 0.0, _n(by_hour, h)) for h in hours]
        out["runs"][key] = [Point(h, _n(by_hour, h), _n(by_hour, h)) for h in hours]
        rated = sorted(h for h, acc in by_hour.items() if acc[0])
        out["failure_rate"][key] = [Point(h, by_hour[h][1] / by_hour[h][0], by_hour[h][0]) for h in rated]
        out["tokens_per_run"][key] = [Point(h, by_hour[h][3] / by_hour[h][0], by_hour[h][0]) for h in rated]
        out["latency_p95"][key] = [
            Point(h, p95, by_hour[h][0]) for h in rated if (p95 := p95s.get((key, h))) is not None
        ]
    return out


def _n(by_hour: dict[datetime, list[float]], hour: datetime) -> float:
    return by_hour[hour][0] if hour in by_hour else 0.0


def _dense(by_hour: Iterable[datetime], ranges: Ranges) -> list[datetime]:
    """Every hour of the ranges from the first one with data on."""
    first = min(by_hour)
    hours: set[datetime] = set()
    for since, until in ranges:
        start = max(since, first)
        hours.update(start + i * timeranges.HOUR for i in range(max(0, int((until - start) / timeranges.HOUR))))
    return sorted(hours)


def _tool_errors(project: Project, ranges: Ranges) -> MetricSeries:
    rows = (
        _hours(ToolCallRollup, project, ranges)
        .values("tool_name", hour=_BUCKET_TEXT)
        .annotate(calls_=Sum("calls"), errors_=Sum("errors"))
        .values_list("hour", "tool_name", "calls_", "errors_")
    )
    totals: dict[SeriesKey, dict[datetime, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    parser = _Hours()
    for text, tool, calls, errors in rows.iterator(chunk_size=5000):
        bucket = parser.parse(text)
        for key in _both(TOOL, tool):
            acc = totals[key][bucket]
            acc[0] += calls or 0
            acc[1] += errors or 0
    return {
        key: [Point(h, errors / calls, calls) for h, (calls, errors) in sorted(by_hour.items()) if calls]
        for key, by_hour in totals.items()
    }


def _scores(project: Project, ranges: Ranges, names: list[str]) -> dict[str, MetricSeries]:
    """Pass rate (of pass/fail scores) and mean score per hour, per agent and for the project,
    for each named score: series families "score_pass_rate:<name>" and "score_mean:<name>"."""
    rows = (
        _hours(ScoreRollup, project, ranges)
        .filter(name__in=names)
        .values_list("bucket", "agent_name", "name", "scores", "value_sum", "booleans", "passed")
    )
    totals: dict[tuple[str, SeriesKey], dict[datetime, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    )
    parser = _Hours()
    for bucket, agent, name, scores, value_sum, booleans, passed in rows.iterator(chunk_size=5000):
        hour = parser.parse(bucket)
        for key in _both(AGENT, agent):
            acc = totals[(name, key)][hour]
            acc[0] += scores
            acc[1] += value_sum
            acc[2] += booleans
            acc[3] += passed
    out: dict[str, MetricSeries] = {}
    for (name, key), by_hour in totals.items():
        hours = sorted(by_hour)
        rates = [Point(h, by_hour[h][3] / by_hour[h][2], by_hour[h][2]) for h in hours if by_hour[h][2]]
        means = [Point(h, by_hour[h][1] / by_hour[h][0], by_hour[h][0]) for h in hours if by_hour[h][0]]
        out.setdefault(detection.series_name("score_pass_rate", name), {})[key] = rates
        out.setdefault(detection.series_name("score_mean", name), {})[key] = means
    return out


def score_names_seen(project: Project, since: datetime) -> dict[str, bool]:
    """Score names rolled up since then, and whether each has pass/fail scores."""
    rows = ScoreRollup.objects.filter(project=project, bucket__gte=since).values_list("name", "booleans")
    seen: dict[str, bool] = {}
    for name, booleans in rows.order_by().distinct():
        seen[name] = seen.get(name, False) or booleans > 0
    return seen


# --- The anomaly page -----------------------------------------------------------------------

CHART_BEFORE = timedelta(days=2)  # the chart shows this much before the incident...
CHART_AFTER = timedelta(days=1)  # ... and this much after it (or up to now)


def anomaly_alert(project: Project, alert_id: int) -> Alert | None:
    """The project's anomaly (or recovery) alert with this id; None for anyone else's."""
    return (
        Alert.objects.filter(pk=alert_id, anomaly_rule__project=project)
        .select_related("anomaly_rule__project__organization")
        .first()
    )


def recent_anomalies(project: Project) -> QuerySet[Alert]:
    """The project's anomaly incidents, newest first."""
    return (
        Alert.objects.filter(anomaly_rule__project=project, kind=Alert.Kind.ANOMALY)
        .select_related("anomaly_rule")
        .order_by("-period_start", "-pk")
    )


def alert_detection(alert: Alert, now: datetime) -> Detection:
    """The alert's series judged around its incident, as detection saw it (same rule settings)."""
    rule = alert.anomaly_rule
    if rule is None:
        return Detection([])
    shown_until = min(timeranges.floor_hour(now), alert.period_start + CHART_AFTER)
    shown_since = alert.period_start - CHART_BEFORE
    baseline_since = shown_since - timedelta(days=detection.BASELINE_DAYS + 1)
    key = (rule.scope, alert.scope_value) if alert.scope_value else (PROJECT, "")
    series = hourly_series(
        rule.project, baseline_since, shown_until, weekly_from=shown_since, score_names=[rule.score_name]
    )
    points = series.get(detection.series_name(alert.metric, rule.score_name), {}).get(key, [])
    return detection.detect(
        points,
        rule.project.tz,
        detection.METRICS[alert.metric],
        k=rule.sensitivity,
        sustained=rule.sustained,
        min_volume=rule.min_volume,
        since=shown_since,
        floor=rule.floor,
    )
