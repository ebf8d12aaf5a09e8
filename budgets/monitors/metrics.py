"""Selectors: a monitor's metric over a window, per scope value.

`window_values(monitor, since, until)` is the one reader evaluation uses: {scope value: Measured}
over the window [since, until). Runs, LLM calls and tool calls are read from the per-minute
rollup rows, which the delta pass keeps within seconds of intake (aggregates/deltas.py); like
every rollup, a run and its calls count in the minute the run started. So a monitor and the
dashboard agree: the same counting rules (ingest/run_summary.py) and the same latency sketches.
Scores, which have no minute rows, are read from their own rows by the time they were recorded.

`minute_series(monitor, since, until)` is the dashboard's chart of the same metric: each
minute's own value (a one-minute window), from the same rows read once.

The project scope's value is ""; values that are empty (runs without an agent name, calls
without a model) are left out of a group-by and counted in the project total only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from aggregates import sketches
from aggregates.models import (
    LlmCallRollup,
    ModelRollup,
    Period,
    RollupModel,
    RunRollup,
    ToolCallRollup,
    ToolRollup,
    UserTotalRollup,
)
from budgets.monitors import catalog
from budgets.monitors.models import Monitor
from ingest import timeranges
from ingest.models import Run
from scores.models import Score
from tenancy.models import ApiKey

PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Measured:
    value: Decimal | None  # None: nothing to measure (a rate of zero calls)
    volume: int  # runs, calls or scores in the window (catalog.volume_source)


def nothing(monitor: Monitor) -> Measured:
    """What a scope value with nothing in the window measures: 0 for a total, else no value."""
    return Measured(Decimal(0) if monitor.spec.total else None, 0)


def window_values(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    """The monitor's metric for each scope value that reported in [since, until) (minute rows:
    from the minute `since` falls in, to the one before `until`, or `until`'s own if it is not a
    minute's start: the minute in progress counts)."""
    if monitor.metric in catalog.SCORE_METRICS:
        measured = {value: m for (value, _), m in _scores(monitor, since, until, by_minute=False).items()}
    else:
        measured = {value: m for (value, _), m in _from_rollups(monitor, since, until, by_minute=False).items()}
    return {value: m for value, m in measured.items() if _watched(monitor, value)}


def minute_series(monitor: Monitor, since: datetime, until: datetime) -> dict[str, list[tuple[datetime, Measured]]]:
    """Per scope value, the metric of each minute in [since, until) on its own (a one-minute
    window), oldest first; minutes with nothing are left out. One read of the rows a window over
    the whole span would read, grouped by minute: a chart costs one query, not one per minute."""
    if monitor.metric in catalog.SCORE_METRICS:
        measured = _scores(monitor, since, until, by_minute=True)
    else:
        measured = _from_rollups(monitor, since, until, by_minute=True)
    series: dict[str, list[tuple[datetime, Measured]]] = defaultdict(list)
    for (value, minute), m in measured.items():
        if minute is not None and _watched(monitor, value):
            series[value].append((minute, m))
    return {value: sorted(points, key=lambda point: point[0]) for value, points in series.items()}


def _watched(monitor: Monitor, value: str) -> bool:
    """Whether this scope value is one the monitor judges: its named value, each non-empty value
    of a group-by, or the project ("")."""
    if monitor.scope_value:
        return value == monitor.scope_value
    return bool(value) or monitor.scope == catalog.PROJECT


def seen_values(monitor: Monitor, since: datetime, until: datetime) -> set[str]:
    """The scope values that reported anything in [since, until) (hour rows, since that is days):
    a group-by monitor's "no data" watches these."""
    if monitor.scope == catalog.PROJECT:
        return {""}
    if monitor.metric in catalog.SCORE_METRICS:
        return {str(v) for v in _score_rows(monitor, since, until).values_list("group", flat=True).distinct() if v}
    model, column = _table(monitor)
    rows = model.objects.filter(
        project_id=monitor.project_id,
        period=Period.HOUR,
        bucket__gte=timeranges.floor_hour(since),
        bucket__lt=until,
    )
    values = {v for v in rows.values_list(column, flat=True).order_by().distinct() if v}
    return _labels(monitor, values)


def _table(monitor: Monitor) -> tuple[RollupModel, str]:
    """The rollup table holding this metric at this scope, and the column of the scope value
    ("" for the project: every row counts)."""
    source = catalog.volume_source(monitor.metric, monitor.scope)
    scope = monitor.scope
    if source == catalog.TOOL_CALLS:
        return (ToolRollup, "tool_name") if scope == catalog.TOOL else (ToolCallRollup, "agent_name")
    if source == catalog.LLM_CALLS:
        if scope in (catalog.MODEL, catalog.PROVIDER):
            return ModelRollup, scope
        return LlmCallRollup, {catalog.AGENT: "agent_name", catalog.API_KEY: "api_key_id"}.get(scope, "agent_name")
    if scope == catalog.USER:
        return UserTotalRollup, "user_id"
    return RunRollup, {catalog.API_KEY: "api_key_id"}.get(scope, "agent_name")


def _from_rollups(
    monitor: Monitor, since: datetime, until: datetime, *, by_minute: bool
) -> dict[tuple[str, datetime | None], Measured]:
    """{(scope value, minute or None for the whole window): Measured} from the minute rows."""
    model, column = _table(monitor)
    rows = model.objects.filter(
        project_id=monitor.project_id,
        period=Period.MINUTE,
        bucket__gte=timeranges.floor_minute(since),
        bucket__lt=until,
    )
    if monitor.scope_value and monitor.scope in (
        catalog.AGENT,
        catalog.USER,
        catalog.MODEL,
        catalog.PROVIDER,
        catalog.TOOL,
    ):
        rows = rows.filter(**{column: monitor.scope_value})
    project_wide = monitor.scope == catalog.PROJECT
    measures = [f.attname for f in model._meta.concrete_fields if f.attname in _SUMMED]
    sums: dict[tuple[Any, datetime | None], dict[str, Any]] = defaultdict(lambda: dict.fromkeys(measures, 0))
    blobs: list[tuple[Any, bytes]] = []
    for row in rows.values_list(column, "bucket", *measures, "duration_sketch").iterator(chunk_size=2000):
        key = ("" if project_wide else row[0], row[1] if by_minute else None)
        total = sums[key]
        for name, value in zip(measures, row[2:-1], strict=True):
            total[name] += value
        blobs.append((key, row[-1]))
    merged = sketches.merge_grouped(blobs) if monitor.metric in _SKETCHED else {}
    labels = _label_map(monitor, {group for group, _ in sums})
    return {
        (labels.get(group, ""), minute): _measure(monitor, total, merged.get((group, minute)))
        for (group, minute), total in sums.items()
    }


_SUMMED = {
    "runs", "failed_runs", "tool_calls", "input_tokens", "output_tokens", "cost_usd",
    "calls", "failed_calls", "provider_errors", "errors",
}  # fmt: skip
_SKETCHED = {*catalog.PERCENTILE_OF, "llm_latency_p95"}


def _measure(monitor: Monitor, total: dict[str, Any], sketch: sketches.Sketch | None) -> Measured:
    metric = monitor.metric
    if metric in _SKETCHED:
        q = catalog.PERCENTILE_OF.get(metric, 0.95)
        count = sketch.count if sketch else 0
        value = sketch.quantile(q) if sketch else None
        return Measured(None if value is None else _dec(value), count)
    if "runs" in total:  # a run table
        n = total["runs"]
        cost = Decimal(total["cost_usd"])
        values = {
            "runs": Decimal(n),
            "failed_runs": Decimal(total["failed_runs"]),
            "failure_rate": _ratio(total["failed_runs"], n),
            "cost": _dec(cost),
            "cost_per_run": _ratio(cost, n),
            "tokens_per_run": _ratio(total["input_tokens"] + total["output_tokens"], n),
            "tool_calls_per_run": _ratio(total["tool_calls"], n),
        }
        return Measured(values[metric], n)
    calls = total["calls"]
    if metric == "cost":
        return Measured(_dec(Decimal(total["cost_usd"])), calls)
    if metric == "llm_error_rate":  # the provider's failures only
        return Measured(_ratio(total["provider_errors"], calls), calls)
    failed = total["errors"] if "errors" in total else total["failed_calls"]
    return Measured(_ratio(failed, calls), calls)


def _label_map(monitor: Monitor, groups: set[Any]) -> dict[Any, str]:
    """Scope values as users name them: an API key by its prefix, the rest as stored."""
    if monitor.scope != catalog.API_KEY:
        return {g: "" if g is None else str(g) for g in groups}
    prefixes = dict(
        ApiKey.objects.filter(project_id=monitor.project_id, pk__in=[g for g in groups if g]).values_list(
            "pk", "prefix"
        )
    )
    return {g: prefixes.get(g, "") for g in groups}


def _labels(monitor: Monitor, values: set[Any]) -> set[str]:
    return {label for label in _label_map(monitor, values).values() if label}


def _dec(value: float | Decimal) -> Decimal:
    return (value if isinstance(value, Decimal) else Decimal(repr(float(value)))).quantize(PLACES)


def _ratio(part: int | Decimal, whole: int) -> Decimal | None:
    return _dec(Decimal(part) / whole) if whole else None


# Scores ----------------------------------------------------------------------------------------


def _score_rows(monitor: Monitor, since: datetime, until: datetime) -> QuerySet[Any]:
    """The score's rows in the window, each with its scope value as `group`."""
    scores = Score.objects.filter(
        project_id=monitor.project_id, created_at__gte=since, created_at__lt=until, name=monitor.score_name
    )
    if monitor.scope == catalog.AGENT:
        agent = Run.objects.filter(project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id")).values(
            "agent_name"
        )
        group: Any = Coalesce(Subquery(agent[:1]), Value(""))
    else:
        group = Value("")
    annotated: QuerySet[Any] = scores.annotate(group=group)
    return annotated


def _scores(
    monitor: Monitor, since: datetime, until: datetime, *, by_minute: bool
) -> dict[tuple[str, datetime | None], Measured]:
    """Pass rate (pass/fail scores that passed) or mean (of every score with a value) of the
    scores recorded in the window (or in each minute of it); an agent's are those of its runs."""
    scores = _score_rows(monitor, since, until).exclude(value=None)
    if monitor.metric == "score_pass_rate":
        scores = scores.filter(data_type=Score.DataType.BOOLEAN)
    values: dict[tuple[str, datetime | None], list[float]] = defaultdict(list)
    for group, value, created_at in scores.values_list("group", "value", "created_at"):
        values[(group or "", timeranges.floor_minute(created_at) if by_minute else None)].append(float(value))
    if monitor.metric == "score_pass_rate":
        return {g: Measured(_ratio(sum(v >= 1 for v in vs), len(vs)), len(vs)) for g, vs in values.items()}
    return {g: Measured(_dec(sum(vs) / len(vs)), len(vs)) for g, vs in values.items()}
