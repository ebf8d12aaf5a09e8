"""Selectors: a monitor's metric over a window, per scope value.

`window_values(monitor, since, until)` is the one reader evaluation uses: {scope value: Measured}
for the runs (bucketed by run start time, as the rollups bucket them), LLM and tool calls
(by call start time) and scores (by the time they were recorded) of [since, until). For now it
reads the raw Run, Span and Score rows through their (project, time) indexes; a later change can
read per-minute rollup rows behind the same signature. LLM and tool calls are counted by the
rules that give Run.llm_calls and the dashboard's tool table (ingest/run_summary.py), and
percentiles come from the dashboard's sketches, so a monitor and the dashboard agree.

The project scope's value is ""; values that are empty (runs without an agent name, calls
without a model) are left out of a group-by and counted in the project total only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import attrgetter
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, NullIf

from aggregates.sketches import Sketch
from budgets.monitors import catalog
from budgets.monitors.models import Monitor
from ingest import run_summary
from ingest.models import Run, Span
from ingest.records import SpanKind
from scores.models import Score

PLACES = Decimal("0.000001")
TRACE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Measured:
    value: Decimal | None  # None: nothing to measure (a rate of zero calls)
    volume: int  # runs, calls or scores in the window (catalog.volume_source)


def nothing(monitor: Monitor) -> Measured:
    """What a scope value with nothing in the window measures: 0 for a total, else no value."""
    return Measured(Decimal(0) if monitor.spec.total else None, 0)


def window_values(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    """The monitor's metric for each scope value that reported in [since, until)."""
    source = catalog.volume_source(monitor.metric, monitor.scope)
    if monitor.metric in catalog.SCORE_METRICS:
        measured = _scores(monitor, since, until)
    elif source == catalog.RUNS:
        measured = _runs(monitor, since, until)
    elif monitor.metric == "cost":
        measured = _priced_calls(monitor, since, until)
    else:
        measured = _calls(monitor, since, until)
    if monitor.scope_value:
        return {v: m for v, m in measured.items() if v == monitor.scope_value}
    if monitor.scope != catalog.PROJECT:
        return {v: m for v, m in measured.items() if v}
    return measured


def seen_values(monitor: Monitor, since: datetime, until: datetime) -> set[str]:
    """The scope values that reported anything in [since, until): a group-by monitor's "no data"
    watches these."""
    if monitor.scope == catalog.PROJECT:
        return {""}
    source = catalog.volume_source(monitor.metric, monitor.scope)
    if monitor.metric in catalog.SCORE_METRICS:
        rows = _score_rows(monitor, since, until).values_list("group", flat=True)
    elif source == catalog.TOOL_CALLS:
        rows = _in_window(Span.objects, monitor, "start_time", since, until).filter(kind=SpanKind.TOOL)
        rows = rows.values_list(Coalesce(NullIf("tool_name", Value("")), "name"), flat=True)
    elif source == catalog.LLM_CALLS and monitor.scope in (catalog.MODEL, catalog.PROVIDER):
        rows = _in_window(Span.objects, monitor, "start_time", since, until).filter(kind=SpanKind.LLM)
        rows = rows.values_list(_SPAN_GROUPS[monitor.scope], flat=True)
    else:  # runs, or the runs that made LLM calls (an agent's or key's calls)
        runs = _in_window(Run.objects, monitor, "start_time", since, until)
        if source == catalog.LLM_CALLS:
            runs = runs.filter(llm_calls__gt=0)
        rows = runs.values_list(_RUN_GROUPS[monitor.scope], flat=True)
    return {str(v)[:200] for v in rows.distinct() if v}


def _in_window(manager: Any, monitor: Monitor, field: str, since: datetime, until: datetime) -> QuerySet[Any]:
    rows: QuerySet[Any] = manager.filter(
        project_id=monitor.project_id, **{f"{field}__gte": since, f"{field}__lt": until}
    )
    return rows


def _dec(value: float | Decimal) -> Decimal:
    return (value if isinstance(value, Decimal) else Decimal(repr(float(value)))).quantize(PLACES)


def _ratio(part: int | Decimal, whole: int) -> Decimal | None:
    return _dec(Decimal(part) / whole) if whole else None


# Runs ------------------------------------------------------------------------------------------

_RUN_GROUPS: dict[str, Any] = {
    catalog.PROJECT: Value(""),
    catalog.AGENT: F("agent_name"),
    catalog.USER: F("user_id"),
    catalog.API_KEY: F("api_key__prefix"),
}


def _runs(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    runs = _in_window(Run.objects, monitor, "start_time", since, until).annotate(group=_RUN_GROUPS[monitor.scope])
    if monitor.scope_value:
        runs = runs.filter(group=monitor.scope_value)
    if monitor.metric in catalog.PERCENTILE_OF:
        durations: dict[str, list[float]] = defaultdict(list)
        for group, duration in runs.values_list("group", "duration_ms"):
            durations[group or ""].append(duration)
        q = catalog.PERCENTILE_OF[monitor.metric]
        return {g: _quantile(values, q) for g, values in durations.items()}
    rows = runs.values("group").annotate(
        runs=Count("pk"),
        failed=Count("pk", filter=Q(status=Run.Status.ERROR)),
        cost=Sum("cost_usd"),
        tokens=Sum(F("input_tokens") + F("output_tokens")),
        tools=Sum("tool_calls"),
    )
    out: dict[str, Measured] = {}
    for row in rows.order_by():
        n = row["runs"]
        cost = row["cost"] or Decimal(0)
        value = {
            "runs": Decimal(n),
            "failed_runs": Decimal(row["failed"]),
            "failure_rate": _ratio(row["failed"], n),
            "cost": _dec(cost),
            "cost_per_run": _ratio(cost, n),
            "tokens_per_run": _ratio(row["tokens"] or 0, n),
            "tool_calls_per_run": _ratio(row["tools"] or 0, n),
        }[monitor.metric]
        out[row["group"] or ""] = Measured(value, n)
    return out


def _quantile(values: list[float], q: float) -> Measured:
    result = Sketch.of(values).quantile(q)
    return Measured(None if result is None else _dec(result), len(values))


# LLM and tool calls ----------------------------------------------------------------------------

_SPAN_GROUPS: dict[str, Any] = {
    catalog.MODEL: Coalesce(NullIf("request_model", Value("")), "response_model"),
    catalog.PROVIDER: F("provider"),
}
_SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "duration_ms",
    "is_error", "input_tokens", "cost_usd", "response_id", "request_model", "response_model", "provider",
    "scope_name", "tool_name",
)  # fmt: skip


def _priced_calls(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    """Cost by model or provider: the calls whose usage counts in totals (one per real call)."""
    spans = _in_window(Span.objects, monitor, "start_time", since, until).filter(counts_usage=True)
    rows = (
        spans.annotate(group=_SPAN_GROUPS[monitor.scope]).values("group").annotate(cost=Sum("cost_usd"), n=Count("pk"))
    )
    out: dict[str, Measured] = {}
    for row in rows.order_by():
        out[row["group"] or ""] = Measured(_dec(row["cost"] or Decimal(0)), row["n"])
    return out


def _calls(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    """LLM latency and error rate, tool error rate: over the calls that started in the window."""
    kind = SpanKind.TOOL if monitor.metric == "tool_error_rate" else SpanKind.LLM
    durations: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for group, duration, is_error in _counted_calls(monitor, kind, since, until):
        durations[group].append(duration)
        errors[group] += is_error
    if monitor.metric == "llm_latency_p95":
        return {g: _quantile(values, 0.95) for g, values in durations.items()}
    return {g: Measured(_ratio(errors[g], len(values)), len(values)) for g, values in durations.items()}


def _counted_calls(monitor: Monitor, kind: str, since: datetime, until: datetime) -> Iterator[tuple[str, float, bool]]:
    """(scope value, duration ms, failed) of each call of this kind that started in the window,
    a call counted as ingest/run_summary.py counts it (read with the rest of its trace)."""
    started = _in_window(Span.objects, monitor, "start_time", since, until).filter(kind=kind)
    trace_ids = sorted(set(started.values_list("trace_id", flat=True)))
    dims = {
        t: (agent, prefix or "")
        for t, agent, prefix in Run.objects.filter(project_id=monitor.project_id, trace_id__in=trace_ids).values_list(
            "trace_id", "agent_name", "api_key__prefix"
        )
    }
    for trace_id, spans in groupby(_spans_of(monitor.project_id, trace_ids), key=attrgetter("trace_id")):
        rows = list(spans)
        facts = [_facts(s) for s in rows]
        by_id = {f.span_id: f for f in facts}
        chosen = (
            run_summary.tool_calls(facts, by_id)
            if kind == SpanKind.TOOL
            else run_summary.counted_llm_calls(facts, by_id)
        )
        ids = {f.span_id for f in chosen}
        agent, prefix = dims.get(trace_id, ("", ""))
        for s in rows:
            if s.span_id in ids and since <= s.start_time < until:
                yield _call_group(monitor.scope, s, agent, prefix), s.duration_ms, s.is_error


def _call_group(scope: str, span: Any, agent: str, prefix: str) -> str:
    match scope:
        case catalog.AGENT:
            return agent
        case catalog.API_KEY:
            return prefix
        case catalog.MODEL:
            return str(span.request_model or span.response_model)
        case catalog.PROVIDER:
            return str(span.provider)
        case catalog.TOOL:
            return str(span.tool_name or span.name)[:200]
    return ""


def _spans_of(project_id: int, trace_ids: list[str]) -> Iterable[Any]:
    """The traces' spans, trace after trace, read by batches of trace ids (index lookups)."""
    for start in range(0, len(trace_ids), TRACE_BATCH):
        yield from (
            Span.objects.filter(project_id=project_id, trace_id__in=trace_ids[start : start + TRACE_BATCH])
            .order_by("trace_id")
            .values_list(*_SPAN_COLUMNS, named=True)
        )


def _facts(span: Any) -> run_summary.SpanFacts:
    return run_summary.SpanFacts(
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=span.kind,
        start_time=span.start_time,
        end_time=span.end_time,
        is_error=span.is_error,
        input_tokens=span.input_tokens,
        cost_usd=span.cost_usd,
        response_id=span.response_id,
        request_model=span.request_model,
        scope_name=span.scope_name,
    )


# Scores ----------------------------------------------------------------------------------------


def _score_rows(monitor: Monitor, since: datetime, until: datetime) -> QuerySet[Any]:
    """The score's rows in the window, each with its scope value as `group`."""
    scores = _in_window(Score.objects, monitor, "created_at", since, until).filter(name=monitor.score_name)
    if monitor.scope == catalog.AGENT:
        agent = Run.objects.filter(project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id")).values(
            "agent_name"
        )
        group: Any = Coalesce(Subquery(agent[:1]), Value(""))
    else:
        group = Value("")
    annotated: QuerySet[Any] = scores.annotate(group=group)
    return annotated


def _scores(monitor: Monitor, since: datetime, until: datetime) -> dict[str, Measured]:
    """Pass rate (pass/fail scores that passed) or mean (of every score with a value) of the
    scores recorded in the window; an agent's are those of its runs."""
    scores = _score_rows(monitor, since, until).exclude(value=None)
    if monitor.metric == "score_pass_rate":
        scores = scores.filter(data_type=Score.DataType.BOOLEAN)
    values: dict[str, list[float]] = defaultdict(list)
    for group, value in scores.values_list("group", "value"):
        values[group or ""].append(float(value))
    if monitor.metric == "score_pass_rate":
        return {g: Measured(_ratio(sum(v >= 1 for v in vs), len(vs)), len(vs)) for g, vs in values.items()}
    return {g: Measured(_dec(sum(vs) / len(vs)), len(vs)) for g, vs in values.items()}
