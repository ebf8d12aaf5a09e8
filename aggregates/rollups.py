"""Services: hourly and daily rollups of runs, LLM calls and tool calls (Zulip-style).

Seven tables, each with hour rows and UTC-day rows: RunRollup (agent, API key, status),
UserRollup (user, agent: the one high-cardinality dimension kept apart so the other tables stay
small), LlmCallRollup (agent, model, provider, API key), ToolCallRollup (agent, tool), and three
coarser copies for the views that slice by user, model or tool alone (UserTotalRollup,
ModelRollup, ToolRollup), summed from the finer rows of the same hour. Each row carries sums and a
mergeable duration sketch (aggregates/sketches.py).

A bucket is recomputed from its source, never incremented: `rollup_hour` deletes the hour's rows
and inserts them again from the runs that started in the hour (and those runs' spans), in one
transaction; `rollup_day` does the same for a UTC day from its 24 hourly rows. Everything is
bucketed by the start of the run, so the rows of one range add up to the same totals whichever
dimension they are grouped by, and equal the runs' own totals.

Ingest marks the hours it touched (`mark_traces_dirty`, in its transaction); the beat task runs
`rollup_pending` every minute, which claims each dirty bucket with a compare-and-swap on
`RollupDirty.claimed_at`, recomputes it and clears the mark only if nobody re-marked it meanwhile.
A worker that dies leaves its claim to expire; on PostgreSQL a transaction-scoped advisory lock
per (project, period, bucket) keeps two workers (or `rollup --rebuild`) from writing one bucket
at once. SQLite serializes writers by itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from operator import attrgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, CharField, Count, DecimalField, Q, QuerySet, Sum, When
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone

from aggregates import signals, sketches
from aggregates.models import (
    LlmCallRollup,
    ModelRollup,
    Period,
    RollupDirty,
    RollupModel,
    RunRollup,
    ToolCallRollup,
    ToolRollup,
    UserRollup,
    UserTotalRollup,
)
from ingest import copying, run_summary, storable, timeranges
from ingest.locks import advisory_key
from ingest.models import Run, Span
from ingest.records import SpanKind
from tenancy.models import Project

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)  # longer than CELERY_TASK_TIME_LIMIT
PASS_SECONDS = 240  # a beat pass claims no new bucket after this (under the soft time limit)
HOUR, DAY = timeranges.HOUR, timeranges.DAY

Row = dict[str, Any]  # a rollup row to insert: column attname -> value
TABLES: tuple[RollupModel, ...] = (
    RunRollup,
    UserRollup,
    LlmCallRollup,
    ToolCallRollup,
    UserTotalRollup,
    ModelRollup,
    ToolRollup,
)
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
# Per table: the dimensions of a row, and the measures a day sums from its hours.
CALL_MEASURES = ("calls", "failed_calls", *TOKENS, "cost_usd", "unpriced_calls")
SHAPES: dict[RollupModel, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RunRollup: (("agent_name", "api_key_id", "status"), RUN_MEASURES),
    UserRollup: (("user_id", "agent_name"), RUN_MEASURES),
    LlmCallRollup: (("agent_name", "model", "provider", "api_key_id"), CALL_MEASURES),
    ToolCallRollup: (("agent_name", "tool_name"), ("calls", "errors")),
    ModelRollup: (("model", "provider"), CALL_MEASURES),
    ToolRollup: (("tool_name",), ("calls", "errors")),
    UserTotalRollup: (("user_id",), RUN_MEASURES),
}
COARSER: dict[RollupModel, RollupModel] = {
    UserTotalRollup: UserRollup,
    ModelRollup: LlmCallRollup,
    ToolRollup: ToolCallRollup,
}


class RollupFailed(Exception):
    """Some buckets could not be recomputed; they stay dirty and the next pass retries them."""


# --- Marking -------------------------------------------------------------------------------


def mark_traces_dirty(project: Project, trace_ids: Iterable[str]) -> None:
    """Mark every hour in which a span of these traces starts. A run is rolled up in the hour of
    its earliest span, so this covers the hour it is in now and the hour it was in before this
    batch moved its start earlier."""
    hours = (
        Span.objects.filter(project=project, trace_id__in=list(trace_ids))
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values_list("hour", flat=True)
        .order_by()
        .distinct()
    )
    mark_dirty(project, Period.HOUR, hours)


def mark_starts_dirty(project: Project, span_starts: Iterable[datetime]) -> None:
    """`mark_traces_dirty` for a caller that holds every span start of its traces: intake, in
    its transaction, with the stored spans and the new ones."""
    mark_dirty(project, Period.HOUR, {timeranges.floor_hour(start) for start in span_starts})


def mark_dirty(project: Project, period: str, buckets: Iterable[datetime]) -> None:
    """Upsert a dirty row per bucket with a fresh token (and no claim), in bucket order so that
    concurrent transactions lock the rows in the same order."""
    horizon = retention_horizon(project)
    token = uuid.uuid4().hex
    rows = [
        RollupDirty(project=project, period=period, bucket=bucket, token=token)
        for bucket in sorted(set(buckets))
        if period == Period.DAY or horizon is None or bucket >= horizon
    ]
    RollupDirty.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["project", "period", "bucket"],
        update_fields=["token", "claimed_at"],
    )


def retention_horizon(project: Project, now: datetime | None = None) -> datetime | None:
    """Hours before this may have lost runs to retention: their rows are kept as they are."""
    if project.retention_days is None:
        return None
    return (now or timezone.now()) - timedelta(days=project.retention_days)


# --- Recomputing ---------------------------------------------------------------------------


def rollup_hour(project: Project, hour: datetime) -> bool:
    """Recompute one hour's rows from the runs that started in it; False if it is locked."""
    hour = timeranges.floor_hour(hour)
    with transaction.atomic():
        if not _try_lock(project.pk, Period.HOUR, hour):
            return False
        horizon = retention_horizon(project)
        if horizon is not None and hour < horizon:
            return True
        _replace(project, Period.HOUR, hour, _hour_rows(project, hour))
        signals.hour_rolled_up.send(sender=Project, project=project, hour=hour)
        mark_dirty(project, Period.DAY, [timeranges.floor_day(hour)])
    return True


def rollup_day(project: Project, day: datetime) -> bool:
    """Recompute one UTC day's rows from its hourly rows; False if it is locked."""
    day = timeranges.floor_day(day)
    with transaction.atomic():
        if not _try_lock(project.pk, Period.DAY, day):
            return False
        rows = {model: _day_rows(model, project, day) for model in TABLES}
        _replace(project, Period.DAY, day, rows)
    return True


def rollup_pending(*, max_seconds: float | None = None) -> int:
    """One pass: recompute every dirty hour, then every dirty day (the hours mark their days).
    Returns how many buckets were recomputed. Buckets marked during the pass wait for the next.
    """
    started = time.monotonic()
    projects: dict[int, Project] = {}
    done = failed = 0
    recompute = {Period.HOUR: rollup_hour, Period.DAY: rollup_day}
    for period in (Period.HOUR, Period.DAY):
        for pk, project_id, bucket, token in _pending(period):
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return done
            if not _claim(pk, token):
                continue
            if project_id not in projects:
                projects[project_id] = Project.objects.get(pk=project_id)
            try:
                finished = recompute[period](projects[project_id], bucket)
            except Exception:
                log.exception("rollup of %s %s (project %s) failed", period, bucket, project_id)
                _release(pk, token)
                failed += 1
                continue
            if finished:
                RollupDirty.objects.filter(pk=pk, token=token).delete()
                done += 1
            else:  # another worker holds the bucket's lock; it stays dirty
                _release(pk, token)
    if failed:
        raise RollupFailed(f"{failed} bucket(s) failed and stay dirty (see the log)")
    return done


def rollup_until_current(*, max_passes: int = 5) -> int:
    """Run passes until nothing is pending (or max_passes): what `manage.py rollup` does."""
    total = 0
    for _ in range(max_passes):
        total += rollup_pending()
        if not _pending(Period.HOUR) and not _pending(Period.DAY):
            break
    return total


def rebuild(*, project: Project | None = None, since: datetime | None = None) -> int:
    """Drop and recompute every hour from `since` (default: all time) that has runs or rollup
    rows, then their days. Gives the same rows as the incremental path. Returns hours redone."""
    count = 0
    for each in [project] if project else Project.objects.order_by("pk"):
        start = timeranges.floor_hour(since) if since else timeranges.EPOCH
        horizon = retention_horizon(each)
        if horizon is not None:
            start = max(start, timeranges.ceil_hour(horizon))
        for hour in sorted(_hours_with_data(each, start)):
            if not rollup_hour(each, hour):
                mark_dirty(each, Period.HOUR, [hour])
            count += 1
    rollup_until_current()
    return count


# --- Internals -----------------------------------------------------------------------------


def _pending(period: str) -> list[tuple[int, int, datetime, str]]:
    stale = timezone.now() - CLAIM_TIMEOUT
    return list(
        RollupDirty.objects.filter(period=period)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .order_by("-bucket")  # the newest first: what dashboards look at
        .values_list("pk", "project_id", "bucket", "token")
    )


def _claim(pk: int, token: str) -> bool:
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    return RollupDirty.objects.filter(unclaimed, pk=pk, token=token).update(claimed_at=now) == 1


def _release(pk: int, token: str) -> None:
    RollupDirty.objects.filter(pk=pk, token=token).update(claimed_at=None)


def lock_key(project_id: int, period: str, bucket: datetime) -> int:
    """The PostgreSQL advisory lock key of one bucket ("rollup:7:hour:2026-03-01T14:00:00+00:00")."""
    return advisory_key("rollup", project_id, period, bucket.isoformat())


def _try_lock(project_id: int, period: str, bucket: datetime) -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: one writer at a time, and this transaction is writing
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_key(project_id, period, bucket)])
        return bool(cursor.fetchone()[0])


def _replace(project: Project, period: str, bucket: datetime, rows: dict[RollupModel, list[Row]]) -> None:
    for model in TABLES:
        model.objects.filter(project=project, period=period, bucket=bucket).delete()
        _insert(model, rows[model])


def _insert(model: RollupModel, rows: list[Row]) -> None:
    """On PostgreSQL a COPY (this bucket's rows were just deleted under its lock, so nothing
    conflicts): Django's per-field preparation was half of a busy hour's recompute. Elsewhere
    one prepared INSERT through executemany."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    fitted = [(f, _capacity(f)) for f in fields if isinstance(f, DecimalField | BigIntegerField)]
    for row in rows:
        for f, capacity in fitted:
            if not -capacity < row[f.attname] < capacity:  # rare: no call per value
                row[f.attname] = _fit(f, row[f.attname])
    if connection.vendor == "postgresql":
        copying.copy_rows(model, rows)
        return
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608  (names from the model, values bound)
        quote(model._meta.db_table), copying.columns(model), ", ".join(["%s"] * len(fields))
    )
    params = [[f.get_db_prep_save(row[f.attname], connection) for f in fields] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _capacity(field: Any) -> int:
    if isinstance(field, DecimalField):
        whole_digits: int = (field.max_digits or 20) - (field.decimal_places or 0)
        return int(10**whole_digits) - 1
    return storable.BIGINT_MAX


def _fit(field: Any, value: Any) -> Any:
    """A summed measure saturated at its column's capacity: an hour summing garbage costs or token
    counts must still be written, not stay dirty and fail again on every pass."""
    if isinstance(field, DecimalField) and isinstance(value, Decimal):
        return storable.money(value, field.max_digits or 20, field.decimal_places or 0)
    if isinstance(field, BigIntegerField) and isinstance(value, int):
        return storable.count(value)
    return value


def _hours_with_data(project: Project, start: datetime) -> set[datetime]:
    hours = set(
        Run.objects.filter(project=project, start_time__gte=start)
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values_list("hour", flat=True)
        .order_by()
        .distinct()
    )
    for model in TABLES:
        hours.update(
            model.objects.filter(project=project, period=Period.HOUR, bucket__gte=start)
            .values_list("bucket", flat=True)
            .order_by()
            .distinct()
        )
    return hours


def _sums(queryset: QuerySet[Any], dims: tuple[str, ...], **aggregates: Any) -> list[dict[str, Any]]:
    """GROUP BY dims with the given aggregates (aliased, since they share the fields' names)."""
    rows = queryset.values(*dims).order_by().annotate(**{f"agg_{name}": agg for name, agg in aggregates.items()})
    return [{key.removeprefix("agg_"): value for key, value in row.items()} for row in rows]


def _hour_rows(project: Project, hour: datetime) -> dict[RollupModel, list[Row]]:
    hour_runs = Run.objects.filter(project=project, start_time__gte=hour, start_time__lt=hour + HOUR)
    base = {"project_id": project.pk, "period": Period.HOUR, "bucket": hour}
    # One pass over the hour's runs: their durations for the sketches, their dimensions for the
    # LLM and tool rows of their spans.
    durations: dict[RollupModel, dict[tuple[Any, ...], list[float]]] = {
        RunRollup: defaultdict(list),
        UserRollup: defaultdict(list),
    }
    trace_dims: dict[str, tuple[str, int | None]] = {}
    for trace_id, agent, user, api_key_id, status, duration in hour_runs.values_list(
        "trace_id", "agent_name", "user_id", "api_key_id", "status", "duration_ms"
    ).iterator(chunk_size=2000):
        trace_dims[trace_id] = (agent, api_key_id)
        durations[RunRollup][(agent, api_key_id, status)].append(duration)
        durations[UserRollup][(user, agent)].append(duration)
    rows: dict[RollupModel, list[Row]] = {}
    summed = {m: Sum(m) for m in RUN_MEASURES if m not in ("runs", "failed_runs")}
    for model in (RunRollup, UserRollup):
        dims = SHAPES[model][0]
        rows[model] = []
        for row in _sums(
            hour_runs,
            dims,
            runs=Count("pk"),
            failed_runs=Count("pk", filter=Q(status=Run.Status.ERROR)),
            **summed,
        ):
            row["cost_usd"] = row["cost_usd"] or Decimal(0)
            sketch = _sketch(durations[model].get(tuple(row[d] for d in dims), []))
            rows[model].append({**base, **row, "duration_sketch": sketch})
    llm, tools = _call_totals(project, trace_dims)
    rows[LlmCallRollup] = [
        {
            **base,
            **dict(zip(SHAPES[LlmCallRollup][0], key, strict=True)),
            "calls": t.calls,
            "failed_calls": t.failed,
            **t.tokens,
            "cost_usd": t.cost,
            "unpriced_calls": t.unpriced,
            "duration_sketch": _sketch(t.durations),
        }
        for key, t in llm.items()
    ]
    rows[ToolCallRollup] = [
        {
            **base,
            "agent_name": agent,
            "tool_name": tool,
            "calls": t.calls,
            "errors": t.failed,
            "duration_sketch": _sketch(t.durations),
        }
        for (agent, tool), t in tools.items()
    ]
    for coarse, finer in COARSER.items():
        rows[coarse] = _coarsen(coarse, rows[finer], base)
    return rows


def _coarsen(model: RollupModel, finer: list[Row], base: Row) -> list[Row]:
    """The finer table's rows summed over the dimensions `model` leaves out; sketches merged."""
    dims, measures = SHAPES[model]
    sums: dict[tuple[Any, ...], Row] = {}
    for row in finer:
        key = tuple(row[d] for d in dims)
        total = sums.setdefault(key, dict.fromkeys(measures, 0))
        for name in measures:
            total[name] += row[name]
    merged = sketches.merge_grouped((tuple(row[d] for d in dims), row["duration_sketch"]) for row in finer)
    return [
        {**base, **dict(zip(dims, key, strict=True)), **total, "duration_sketch": merged[key].to_bytes()}
        for key, total in sums.items()
    ]


@dataclass(slots=True)
class _Calls:
    calls: int = 0
    failed: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    durations: list[float] = field(default_factory=list)


_SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "call_start", "call_end",
    "duration_ms", "is_error", "provider", "request_model", "response_model", "response_id",
    "scope_name", "tool_name", "counts_usage", "cost_usd", *TOKENS,
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


def _call_time(text: str | None) -> datetime:
    if not text:
        return timeranges.EPOCH
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite stores UTC without offset


def _call_totals(
    project: Project,
    trace_dims: dict[str, tuple[str, int | None]],
) -> tuple[dict[tuple[Any, ...], _Calls], dict[tuple[str, str], _Calls]]:
    """LLM and tool call totals of the hour's runs, per dimension key.

    In Python rather than SQL: which LLM spans are calls (not wrappers of another LLM span, a
    call recorded by two instrumentations once) is decided by the same rules in ingest/run_summary.py
    that give Run.llm_calls, so the by-model rows add up to the runs' totals."""
    llm: dict[tuple[Any, ...], _Calls] = defaultdict(_Calls)
    tools: dict[tuple[str, str], _Calls] = defaultdict(_Calls)
    for trace_id, trace_spans in groupby(_spans_of(project, sorted(trace_dims)), key=attrgetter("trace_id")):
        agent, api_key_id = trace_dims[trace_id]
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
            model = s.request_model or s.response_model
            totals = llm[(agent, model, s.provider, api_key_id)]
            if s.span_id in calls:
                totals.calls += 1
                totals.failed += s.is_error
                totals.durations.append(s.duration_ms)
            if s.counts_usage:
                for name in TOKENS:
                    totals.tokens[name] += getattr(s, name) or 0
                totals.cost += s.cost_usd or 0
                totals.unpriced += s.cost_usd is None and s.kind == SpanKind.LLM
    return llm, tools


def _spans_of(project: Project, trace_ids: list[str], batch: int = 1000) -> Iterator[Any]:
    """The traces' spans (the columns _call_totals reads), trace after trace, read by batches of
    trace ids: each batch is an index lookup. One query with the hour's runs as a subquery,
    streamed through a server-side cursor, let PostgreSQL (planning for the first rows) walk
    the whole project's spans in trace order instead: minutes per hour at 10M spans."""
    for start in range(0, len(trace_ids), batch):
        yield from (
            Span.objects.filter(project=project, trace_id__in=trace_ids[start : start + batch])
            .annotate(**_CALL_TIMES)
            .order_by("trace_id")
            .values_list(*_SPAN_COLUMNS, named=True)
        )


def _day_rows(model: RollupModel, project: Project, day: datetime) -> list[Row]:
    dims, measures = SHAPES[model]
    hours = model.objects.filter(project=project, period=Period.HOUR, bucket__gte=day, bucket__lt=day + DAY)
    merged = sketches.merge_grouped(
        (tuple(row[:-1]), row[-1]) for row in hours.values_list(*dims, "duration_sketch").iterator(chunk_size=2000)
    )
    rows = []
    for row in _sums(hours, dims, **{m: Sum(m) for m in measures}):
        sketch = merged.get(tuple(row[d] for d in dims)) or sketches.Sketch()
        rows.append(
            {"project_id": project.pk, "period": Period.DAY, "bucket": day, **row, "duration_sketch": sketch.to_bytes()}
        )
    return rows


def _sketch(values: list[float]) -> bytes:
    return sketches.Sketch.of(values).to_bytes()
