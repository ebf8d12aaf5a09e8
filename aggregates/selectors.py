"""Reads of the rollup tables: totals and latency percentiles per group (the query API's summary),
time series, the spend a budget counts, the filter suggestions. Every function takes the project
explicitly; nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, cast

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDay

from aggregates import sketches
from aggregates.models import (
    LlmCallRollup,
    ModelRollup,
    Period,
    RollupModel,
    RunRollup,
    ToolCallRollup,
    ToolRollup,
    UserRollup,
    UserTotalRollup,
)
from ingest import timeranges
from ingest.timeranges import TimeRange
from tenancy.models import ApiKey, Project

GROUPS = ("agent", "model", "provider", "user", "api_key", "tool", "status")
FILTERS = ("agent", "model", "user", "tool")
METRICS = ("cost", "runs", "errors", "tokens", "p95_latency")
INTERVALS = ("hour", "day")


class QueryError(ValueError):
    """A parameter combination the rollups cannot answer; `param` names the parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Table:
    """A rollup table as the query API sees it."""

    name: str
    model: RollupModel
    dims: dict[str, str]  # query name -> column
    sums: dict[str, str]  # output field -> column summed
    latency_of: str
    metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)  # metric -> columns


_TOKEN_SUMS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "reasoning_tokens": "reasoning_tokens",
}
_RUN_SUMS = {
    "runs": "runs",
    "failed_runs": "failed_runs",
    "llm_calls": "llm_calls",
    "failed_llm_calls": "failed_llm_calls",
    "tool_calls": "tool_calls",
    "tool_errors": "tool_errors",
    "guardrail_trips": "guardrail_trips",
    **_TOKEN_SUMS,
    "cost_usd": "cost_usd",
    "unpriced_calls": "unpriced_calls",
}
_RUN_METRICS = {
    "cost": ("cost_usd",),
    "runs": ("runs",),
    "errors": ("failed_runs",),
    "tokens": ("input_tokens", "output_tokens"),
}
RUNS = Table(
    "runs",
    RunRollup,
    {"agent": "agent_name", "api_key": "api_key_id", "status": "status"},
    _RUN_SUMS,
    "run",
    _RUN_METRICS,
)
USERS = Table("users", UserRollup, {"user": "user_id", "agent": "agent_name"}, _RUN_SUMS, "run", _RUN_METRICS)
# The same runs summed over agents: read when the user is the only dimension asked for.
USER_TOTALS = Table("users", UserTotalRollup, {"user": "user_id"}, _RUN_SUMS, "run", _RUN_METRICS)
_CALL_SUMS = {
    "llm_calls": "calls",
    "failed_llm_calls": "failed_calls",
    **_TOKEN_SUMS,
    "cost_usd": "cost_usd",
    "unpriced_calls": "unpriced_calls",
    "provider_errors": "provider_errors",
}
_CALL_METRICS = {
    "cost": ("cost_usd",),
    "errors": ("failed_calls",),
    "tokens": ("input_tokens", "output_tokens"),
}
LLM_CALLS = Table(
    "llm_calls",
    LlmCallRollup,
    {"agent": "agent_name", "model": "model", "provider": "provider", "api_key": "api_key_id"},
    _CALL_SUMS,
    "llm_call",
    _CALL_METRICS,
)
# The same calls summed over agents and keys: read when only model and provider are asked for.
MODELS = Table(
    "llm_calls", ModelRollup, {"model": "model", "provider": "provider"}, _CALL_SUMS, "llm_call", _CALL_METRICS
)
_TOOL_SUMS = {"tool_calls": "calls", "tool_errors": "errors"}
TOOL_CALLS = Table(
    "tool_calls",
    ToolCallRollup,
    {"agent": "agent_name", "tool": "tool_name"},
    _TOOL_SUMS,
    "tool_call",
    {"errors": ("errors",)},
)
TOOLS = Table("tool_calls", ToolRollup, {"tool": "tool_name"}, _TOOL_SUMS, "tool_call", {"errors": ("errors",)})
ROW_FIELDS = (
    "runs", "failed_runs", "llm_calls", "failed_llm_calls", "tool_calls", "tool_errors",
    "tool_error_rate", "guardrail_trips", *_TOKEN_SUMS, "cost_usd", "unpriced_calls", "provider_errors",
)  # fmt: skip


def table_for(group_by: str | None, filters: dict[str, str]) -> Table:
    """The table that holds the dimensions asked for: tool calls when a tool is involved, LLM
    calls when a model or provider is, runs per user when a user is, else runs. Latency is then
    tool, call or run duration. Other combinations are refused (QueryError). When the coarser
    per-user, per-model or per-tool table holds every dimension asked for, it is read instead."""
    asked = {group_by, *filters} - {None}
    if "tool" in asked:
        table = TOOLS if asked <= TOOLS.dims.keys() else TOOL_CALLS
    elif asked & {"model", "provider"}:
        table = MODELS if asked <= MODELS.dims.keys() else LLM_CALLS
    elif "user" in asked:
        table = USER_TOTALS if asked <= USER_TOTALS.dims.keys() else USERS
    else:
        table = RUNS
    if group_by is not None and group_by not in table.dims:
        raise QueryError(
            "group_by",
            f"{group_by} cannot be combined with {_involving(table)}",
        )
    for name in filters:
        if name not in table.dims:
            raise QueryError(name, f"cannot be combined with {_involving(table)}")
    return table


def _involving(table: Table) -> str:
    return {"tool_calls": "a tool", "llm_calls": "a model or provider", "users": "a user"}.get(
        table.name, "this grouping"
    )


def _in_range(queryset: QuerySet[Any], span: TimeRange) -> QuerySet[Any]:
    """Rows for [since, until) widened to whole hours: day rows for the UTC days it covers
    entirely, hour rows for the rest."""
    first, last = timeranges.floor_hour(span.since), timeranges.ceil_hour(span.until)
    day_from, day_to = timeranges.ceil_day(first), timeranges.floor_day(last)
    if day_from >= day_to:
        return queryset.filter(period=Period.HOUR, bucket__gte=first, bucket__lt=last)
    return queryset.filter(
        Q(period=Period.DAY, bucket__gte=day_from, bucket__lt=day_to)
        | Q(period=Period.HOUR, bucket__gte=first, bucket__lt=day_from)
        | Q(period=Period.HOUR, bucket__gte=day_to, bucket__lt=last)
    )


def _rows(project: Project, table: Table, filters: dict[str, str]) -> QuerySet[Any]:
    conditions = {table.dims[name]: value for name, value in filters.items()}
    return table.model.objects.filter(project=project, **conditions)


def summary(
    project: Project,
    span: TimeRange,
    *,
    group_by: str | None = None,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Totals and latency percentiles per group (or for everything) over the range."""
    filters = filters or {}
    table = table_for(group_by, filters)
    rows = _in_range(_rows(project, table, filters), span)
    column = table.dims[group_by] if group_by else None
    dims = (column,) if column else ()
    aggregates = {f"agg_{out}": Sum(col) for out, col in table.sums.items()}
    if column:
        sums = list(rows.values(column).order_by().annotate(**aggregates))
    else:  # one row for the whole range, even an empty one
        sums = [rows.order_by().aggregate(**aggregates)]
    merged = sketches.merge_grouped(
        (row[0] if column else None, row[-1])
        for row in rows.values_list(*dims, "duration_sketch").iterator(chunk_size=2000)
    )
    out = []
    for row in sums:
        key = row[column] if column else None
        sketch = merged.get(key) or sketches.Sketch()
        out.append(
            {
                "group": key,
                **_measures(table, {o: row[f"agg_{o}"] for o in table.sums}),
                "latency_ms": sketch.percentiles(),
            }
        )
    if group_by == "api_key":
        _label_api_keys(project, out)
    out.sort(key=lambda r: (-(r["cost_usd"] or 0), -_count(r), str(r["group"])))
    totals = {o: sum((row[f"agg_{o}"] or 0 for row in sums), start=0) for o in table.sums}
    return {
        "since": span.since,
        "until": span.until,
        "group_by": group_by,
        "latency_of": table.latency_of,
        "rows": out,
        "total": {
            "group": None,
            **_measures(table, totals),
            "latency_ms": sketches.merge_sketches(list(merged.values())).percentiles(),
        },
    }


def _count(row: dict[str, Any]) -> int:
    return int(row["runs"] or row["llm_calls"] or row["tool_calls"] or 0)


def _measures(table: Table, sums: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    for name, value in sums.items():
        values[name] = value or 0
    if values["cost_usd"] is not None:
        values["cost_usd"] = Decimal(values["cost_usd"])
    if values["tool_calls"] is not None:
        calls, errors = values["tool_calls"], values["tool_errors"]
        values["tool_error_rate"] = errors / calls if calls else None
    return values


def _label_api_keys(project: Project, rows: list[dict[str, Any]]) -> None:
    """api_key groups are shown as the key's visible prefix (the id is internal)."""
    prefixes = dict(ApiKey.objects.filter(project=project).values_list("pk", "prefix"))
    for row in rows:
        row["group"] = prefixes.get(row["group"]) if row["group"] is not None else None


def timeseries(
    project: Project,
    span: TimeRange,
    *,
    metric: str,
    interval: str = "hour",
    group_by: str | None = None,
    filters: dict[str, str] | None = None,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """One metric per hour (UTC hours) or per day (calendar days in `tz`, by default the
    project's), per group."""
    filters = filters or {}
    tz = tz or project.tz
    table = table_for(group_by, filters)
    if metric != "p95_latency" and metric not in table.metrics:
        raise QueryError("metric", f"{metric} is not available for {_involving(table)}")
    rows = _rows(project, table, filters).filter(
        period=Period.HOUR,
        bucket__gte=timeranges.floor_hour(span.since),
        bucket__lt=span.until,
    )
    if interval == "day":
        rows = rows.annotate(point=TruncDay("bucket", tzinfo=tz))
        starts = timeranges.local_days(span.since, span.until, tz)
    else:
        rows = rows.annotate(point=F("bucket"))
        starts = timeranges.hours(span.since, span.until)
    column = table.dims[group_by] if group_by else None
    dims = ("point", column) if column else ("point",)
    values: dict[Hashable, dict[datetime, Any]] = defaultdict(dict)
    if metric == "p95_latency":
        merged = sketches.merge_grouped(
            ((row[0], row[1] if column else None), row[-1])
            for row in rows.values_list(*dims, "duration_sketch").iterator(chunk_size=2000)
        )
        for composite, sketch in merged.items():
            point, key = cast(tuple[datetime, Hashable], composite)
            values[key][point] = sketch.quantile(0.95)
    else:
        columns = table.metrics[metric]
        for row in rows.values(*dims).order_by().annotate(**{f"agg_{c}": Sum(c) for c in columns}):
            value = sum((row[f"agg_{c}"] or 0 for c in columns), start=0)
            values[row[column] if column else None][row["point"]] = value
    zero: Any = None if metric == "p95_latency" else 0
    series = [
        {
            "group": key,
            "values": [_point(metric, points.get(start, zero)) for start in starts],
        }
        for key, points in values.items()
    ]
    if group_by == "api_key":
        _label_api_keys(project, series)
    series.sort(key=lambda s: str(s["group"]))
    return {
        "since": span.since,
        "until": span.until,
        "metric": metric,
        "interval": interval,
        "group_by": group_by,
        "buckets": starts,
        "series": series,
    }


def _point(metric: str, value: Any) -> Any:
    if metric == "cost" and value is not None:
        return Decimal(value)
    return value


def cost_total(project: Project, span: TimeRange, filters: dict[str, str] | None = None) -> Decimal:
    """Total cost_usd over the range (widened to whole hours) for runs matching the filters
    (agent, model, user, api_key id): one SQL aggregate over the rollup table that holds them."""
    filters = filters or {}
    table = table_for(None, filters)
    total = _in_range(_rows(project, table, filters), span).aggregate(total=Sum("cost_usd"))["total"]
    return Decimal(total or 0)


def run_filter_choices(project: Project) -> dict[str, list[str]]:
    """Agent and model names the project has seen (from the small daily rollups), as suggestions."""
    agents = (
        RunRollup.objects.filter(project=project, period=Period.DAY)
        .exclude(agent_name="")
        .values_list("agent_name", flat=True)
        .distinct()
        .order_by("agent_name")
    )
    models = (
        ModelRollup.objects.filter(project=project, period=Period.DAY)
        .exclude(model="")
        .values_list("model", flat=True)
        .distinct()
        .order_by("model")
    )
    return {"agents": list(agents), "models": list(models)}


def tool_calls_series(
    project: Project,
    span: TimeRange,
    *,
    interval: str = "hour",
    tool: str | None = None,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """Tool calls per hour or local day, per tool: a timeseries() answer for the one tool
    measure it does not offer (TOOLS has errors and latency, not calls)."""
    tz = tz or project.tz
    rows = _rows(project, TOOLS, {"tool": tool} if tool is not None else {}).filter(
        period=Period.HOUR,
        bucket__gte=timeranges.floor_hour(span.since),
        bucket__lt=span.until,
    )
    if interval == "day":
        rows = rows.annotate(point=TruncDay("bucket", tzinfo=tz))
        starts = timeranges.local_days(span.since, span.until, tz)
    else:
        rows = rows.annotate(point=F("bucket"))
        starts = timeranges.hours(span.since, span.until)
    values: dict[str, dict[datetime, int]] = defaultdict(dict)
    for row in rows.values("point", "tool_name").order_by().annotate(total=Sum("calls")):
        values[row["tool_name"]][row["point"]] = row["total"] or 0
    return {
        "since": span.since,
        "until": span.until,
        "metric": "calls",
        "interval": interval,
        "group_by": "tool",
        "buckets": starts,
        "series": [
            {"group": name, "values": [points.get(start, 0) for start in starts]}
            for name, points in sorted(values.items())
        ],
    }
