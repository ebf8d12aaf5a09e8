"""What one run adds to the rollup tables: its row in each table (dimensions, measures and the
durations its sketches hold), computed from the run and its spans.

Every rollup row is the sum of the contributions of the runs that started in its bucket, which
makes both ways of keeping the rows equal by construction: a repair sums the contributions of
an hour's runs (aggregates/rollups.py), and the delta pass applies the difference between a
run's new contribution and the one it stored last time (aggregates/deltas.py). Sums and sketch
bucket counts are additive, so differences commute and may be applied in any order.

Stored as JSON text on RunContribution: [[table, [dims…], [measures…], [durations…]], …],
measures in SHAPES order, money as decimal strings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import groupby
from operator import attrgetter
from typing import Any

from django.db.models import Case, CharField, Q, Value, When
from django.db.models.functions import Cast, Substr

from aggregates.models import (
    LlmCallRollup,
    ModelRollup,
    RollupModel,
    RunRollup,
    ToolCallRollup,
    ToolRollup,
    UserRollup,
    UserTotalRollup,
)
from ingest import run_summary, timeranges
from ingest.models import Run, Span
from ingest.provider_errors import is_provider_error
from ingest.records import SpanKind
from tenancy.models import Project

TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
RUN_MEASURES = (
    "runs",
    "failed_runs",
    "llm_calls",
    "failed_llm_calls",
    "tool_calls",
    "tool_errors",
    "guardrail_trips",
    *TOKENS,
    "cost_usd",
    "unpriced_calls",
)
CALL_MEASURES = ("calls", "failed_calls", *TOKENS, "cost_usd", "unpriced_calls", "provider_errors")
TOOL_MEASURES = ("calls", "errors")
# Per table: the dimensions of a row and its measures.
SHAPES: dict[RollupModel, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RunRollup: (("agent_name", "api_key_id", "status"), RUN_MEASURES),
    UserRollup: (("user_id", "agent_name"), RUN_MEASURES),
    LlmCallRollup: (("agent_name", "model", "provider", "api_key_id"), CALL_MEASURES),
    ToolCallRollup: (("agent_name", "tool_name"), TOOL_MEASURES),
    ModelRollup: (("model", "provider"), CALL_MEASURES),
    ToolRollup: (("tool_name",), TOOL_MEASURES),
    UserTotalRollup: (("user_id",), RUN_MEASURES),
}
TABLES: tuple[RollupModel, ...] = tuple(SHAPES)
BY_NAME: dict[str, RollupModel] = {model.__name__: model for model in TABLES}
# The coarser tables sum the finer table's entries over the dimensions they leave out.
COARSER: dict[RollupModel, RollupModel] = {
    UserTotalRollup: UserRollup,
    ModelRollup: LlmCallRollup,
    ToolRollup: ToolCallRollup,
}
RUN_COLUMNS = (
    "trace_id",
    "agent_name",
    "user_id",
    "api_key_id",
    "status",
    "duration_ms",
    "start_time",
    *RUN_MEASURES[2:],
)

Key = tuple[Any, ...]  # a row's dimension values, in SHAPES order


@dataclass(slots=True)
class Entry:
    """One row's share: measures in SHAPES order and the durations of its sketch."""

    measures: list[Any]
    durations: list[float] = field(default_factory=list)

    def add(self, other: Entry) -> None:
        self.measures = [a + b for a, b in zip(self.measures, other.measures, strict=True)]
        self.durations.extend(other.durations)


Contribution = dict[tuple[str, Key], Entry]  # (table name, dims) -> entry


def of_runs(project: Project, runs: list[dict[str, Any]]) -> dict[str, tuple[datetime, Contribution]]:
    """trace id -> (start minute, contribution) of each run (Run rows as dicts of RUN_COLUMNS)."""
    calls = _call_entries(project, {r["trace_id"]: (r["agent_name"], r["api_key_id"]) for r in runs})
    out = {}
    for run in runs:
        contribution = _run_entries(run)
        for key, entry in calls.get(run["trace_id"], {}).items():
            contribution[key] = entry
        _coarsen(contribution)
        out[run["trace_id"]] = (timeranges.floor_minute(run["start_time"]), _nonzero(contribution))
    return out


def run_rows(project: Project, trace_ids: Iterable[str]) -> list[dict[str, Any]]:
    return list(Run.objects.filter(project=project, trace_id__in=list(trace_ids)).values(*RUN_COLUMNS))


def _run_entries(run: dict[str, Any]) -> Contribution:
    measures = [
        1,
        int(run["status"] == Run.Status.ERROR),
        *(run[name] or 0 for name in RUN_MEASURES[2:-2]),
        run["cost_usd"] or Decimal(0),
        run["unpriced_calls"],
    ]
    durations = [run["duration_ms"]]
    agent, user = run["agent_name"], run["user_id"]
    return {
        ("RunRollup", (agent, run["api_key_id"], run["status"])): Entry(list(measures), list(durations)),
        ("UserRollup", (user, agent)): Entry(list(measures), list(durations)),
    }


def _coarsen(contribution: Contribution) -> None:
    for coarse, finer in COARSER.items():
        dims = SHAPES[coarse][0]
        positions = [SHAPES[finer][0].index(d) for d in dims]
        for (table, key), entry in list(contribution.items()):
            if table != finer.__name__:
                continue
            target = contribution.setdefault(
                (coarse.__name__, tuple(key[i] for i in positions)), Entry([0] * len(entry.measures))
            )
            target.add(entry)


def _nonzero(contribution: Contribution) -> Contribution:
    """Entries that add something: a row of zeros is no row (a repair would not write one)."""
    return {key: e for key, e in contribution.items() if e.durations or any(e.measures)}


def encode(contribution: Contribution) -> str:
    """JSON text: encoded here with the C encoder rather than by the driver row by row."""
    return json.dumps(
        [
            [table, key, [str(m) if isinstance(m, Decimal) else m for m in entry.measures], entry.durations]
            for (table, key), entry in contribution.items()
        ],
        separators=(",", ":"),
    )


def decode(text: str) -> Contribution:
    out: Contribution = {}
    for table, key, measures, durations in json.loads(text):
        names = SHAPES[BY_NAME[table]][1]
        measures += [0] * (len(names) - len(measures))  # stored before a measure was added
        values = [Decimal(m) if name == "cost_usd" else m for name, m in zip(names, measures, strict=True)]
        out[(table, tuple(key))] = Entry(values, list(durations))
    return out


# --- LLM and tool calls, from the spans ----------------------------------------------------


@dataclass(slots=True)
class _Calls:
    calls: int = 0
    failed: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    provider_errors: int = 0
    durations: list[float] = field(default_factory=list)


_SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "call_start", "call_end",
    "duration_ms", "is_error", "provider", "request_model", "response_model", "response_id",
    "scope_name", "tool_name", "counts_usage", "cost_usd", *TOKENS, "failure_type", "failure_message",
)  # fmt: skip
# Only LLM spans need their times (to tell duplicated calls apart); reading every span's two
# timestamps was a third of a busy hour's recompute time on PostgreSQL.
_IS_LLM = Q(kind=SpanKind.LLM)
# Read as text: the database driver's timestamp loader, run in Python for Django's time zone
# handling, was a fifth of a busy hour's recompute; datetime.fromisoformat is a C call.
_CALL_TIMES = {
    "call_start": Case(When(_IS_LLM, then=Cast("start_time", CharField()))),
    "call_end": Case(When(_IS_LLM, then=Cast("end_time", CharField()))),
}
# What a failed LLM call's error says, to tell the provider's failures apart (the head of the
# message is enough: the status opens it).
_FAILED_LLM = Q(kind=SpanKind.LLM, is_error=True)
_FAILURES = {
    "failure_type": Case(When(_FAILED_LLM, then="error_type"), default=Value("")),
    "failure_message": Case(When(_FAILED_LLM, then=Substr("error_message", 1, 300)), default=Value("")),
}


def _call_time(text: str | None) -> datetime:
    if not text:
        return timeranges.EPOCH
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite stores UTC without offset


def _call_entries(project: Project, trace_dims: dict[str, tuple[str, int | None]]) -> dict[str, Contribution]:
    """Per trace, its LlmCallRollup and ToolCallRollup entries.

    In Python rather than SQL: which LLM spans are calls (not wrappers of another LLM span, a
    call recorded by two instrumentations once) is decided by the same rules in
    ingest/run_summary.py that give Run.llm_calls, so the by-model rows add up to the runs' totals."""
    out: dict[str, Contribution] = {}
    for trace_id, trace_spans in groupby(_spans_of(project, sorted(trace_dims)), key=attrgetter("trace_id")):
        agent, api_key_id = trace_dims[trace_id]
        llm: dict[Key, _Calls] = defaultdict(_Calls)
        tools: dict[Key, _Calls] = defaultdict(_Calls)
        rows = list(trace_spans)
        facts = [
            run_summary.SpanFacts(
                span_id=s.span_id,
                parent_span_id=s.parent_span_id,
                name=s.name,
                kind=s.kind,
                start_time=_call_time(s.call_start),
                end_time=_call_time(s.call_end),
                is_error=s.is_error,
                input_tokens=s.input_tokens,
                cost_usd=s.cost_usd,
                response_id=s.response_id,
                request_model=s.request_model,
                scope_name=s.scope_name,
            )
            for s in rows
        ]
        by_id = {f.span_id: f for f in facts}
        calls = {f.span_id for f in run_summary.counted_llm_calls(facts, by_id)}
        tool_calls = {f.span_id for f in run_summary.tool_calls(facts, by_id)}
        for s in rows:
            if s.span_id in tool_calls:
                tool = tools[(agent, (s.tool_name or s.name)[:200])]
                tool.calls += 1
                tool.failed += s.is_error
                tool.durations.append(s.duration_ms)
            if s.span_id not in calls and not s.counts_usage:
                continue
            totals = llm[(agent, s.request_model or s.response_model, s.provider, api_key_id)]
            if s.span_id in calls:
                totals.calls += 1
                totals.failed += s.is_error
                totals.provider_errors += s.is_error and is_provider_error(s.failure_type, s.failure_message)
                totals.durations.append(s.duration_ms)
            if s.counts_usage:
                for name in TOKENS:
                    totals.tokens[name] += getattr(s, name) or 0
                totals.cost += s.cost_usd or 0
                totals.unpriced += s.cost_usd is None and s.kind == SpanKind.LLM
        entries: Contribution = {
            ("LlmCallRollup", key): Entry(
                [t.calls, t.failed, *(t.tokens[n] for n in TOKENS), t.cost, t.unpriced, t.provider_errors],
                t.durations,
            )
            for key, t in llm.items()
        }
        entries.update({("ToolCallRollup", key): Entry([t.calls, t.failed], t.durations) for key, t in tools.items()})
        out[trace_id] = entries
    return out


def _spans_of(project: Project, trace_ids: list[str], batch: int = 1000) -> Iterator[Any]:
    """The traces' spans (the columns _call_entries reads), trace after trace, read by batches of
    trace ids: each batch is an index lookup. One query with the hour's runs as a subquery,
    streamed through a server-side cursor, let PostgreSQL (planning for the first rows) walk
    the whole project's spans in trace order instead: minutes per hour at 10M spans."""
    for start in range(0, len(trace_ids), batch):
        yield from (
            Span.objects.filter(project=project, trace_id__in=trace_ids[start : start + batch])
            .annotate(**_CALL_TIMES, **_FAILURES)
            .order_by("trace_id")
            .values_list(*_SPAN_COLUMNS, named=True)
        )
