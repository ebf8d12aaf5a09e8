"""Writes of telemetry intake: spans, runs, log events, worker heartbeats."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ingest import agent_names, conventions, copying, redaction, run_summary, signals, storable
from ingest.conventions import messages
from ingest.locks import advisory_key
from ingest.models import LogRecord, Run, Span, WorkerHeartbeat
from ingest.records import DecodedTraces, LogEvent, RawSpan, Rejected, SpanFields
from pricing import book, lookup
from tenancy.models import ApiKey, Project

log = logging.getLogger(__name__)


def heartbeat_record(name: str) -> None:
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


# --- Telemetry intake --------------------------------------------------------------------


def ingest_decoded(api_key: ApiKey, decoded: DecodedTraces) -> list[Rejected]:
    """Normalize and store a decoded OTLP export; returns every rejected span (decode + normalize)."""
    items: list[tuple[RawSpan, SpanFields]] = []
    rejected = list(decoded.rejected)
    for index, raw in enumerate(decoded.spans):
        try:
            items.append((raw, conventions.normalize(raw)))
        except Exception as exc:  # a normalizer bug must not lose the rest of the batch
            log.exception("normalizer failed on span %s/%s", raw.trace_id, raw.span_id)
            rejected.append(Rejected(index, f"span {raw.span_id} could not be read: {type(exc).__name__}"))
    ingest_spans(api_key, items)
    return rejected


def ingest_spans(api_key: ApiKey, items: list[tuple[RawSpan, SpanFields]]) -> int:
    """Store normalized spans idempotently and bring their runs up to date, in one transaction.

    A re-sent span (same project, trace id, span id) is ignored. Returns the number of spans
    in `items`; the caller answers 2xx only after this returns, i.e. after the commit.
    """
    if not items:
        return 0
    project = api_key.project
    policy = redaction_policy(project)
    if policy.active:  # before anything is stored or handed to a listener
        items = [redaction.span(raw, fields, policy) for raw, fields in items]
    if rule := agent_names.Rule.of(project.agent_attribute, project.agent_span_name):
        items = [(raw, agent_names.apply(rule, raw, fields)) for raw, fields in items]
    overrides = lookup.overrides_for(project)
    now = timezone.now()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for raw, fields in items:  # of a span sent twice in one batch, the first is kept
        if (raw.trace_id, raw.span_id) not in rows:
            rows[(raw.trace_id, raw.span_id)] = _span_row(project, api_key, raw, fields, overrides, now)
    trace_ids = sorted({trace_id for trace_id, _ in rows})
    with transaction.atomic(durable=True):
        # Under the traces' locks no one else writes their spans, so what is not stored yet is new:
        # the runs are summed from the stored spans plus these rows, without reading them back.
        _lock_traces(project, trace_ids)
        stored = _stored_spans(project, trace_ids)
        new_rows = [row for key, row in rows.items() if key not in stored]
        events = _log_events_by_span(project, set(rows))
        _fill_from_log_events(new_rows, events)
        _attach_to_stored(project, {key: found for key, found in events.items() if key in stored})
        spans = [*stored.values(), *map(_RunSpan.of_row, new_rows)]
        _update_runs(project, spans)  # sets the new rows' counts_usage: before their insert
        _insert_spans(new_rows)
        signals.spans_stored.send(
            sender=Project,
            project=project,
            spans=[raw for raw, _ in items],
            span_starts=[s.facts.start_time for s in spans],
        )
    signals.runs_updated.send(sender=Project, project=project, trace_ids=trace_ids)
    return len(items)


def ingest_log_events(api_key: ApiKey, events: list[LogEvent]) -> int:
    """Store GenAI events sent as log records and fill in their spans' messages."""
    project = api_key.project
    policy = redaction_policy(project)
    if policy.active:
        events = [redaction.log_event(e, policy) for e in events]
    rows = [_log_row(project, e) for e in events if e.trace_id and e.span_id]
    with transaction.atomic(durable=True):
        # The spans' lock: a span and its log events exported at the same moment by separate
        # exporters would otherwise each commit without seeing the other, and never be joined.
        _lock_traces(project, sorted({r.trace_id for r in rows}))
        LogRecord.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        _attach_to_stored(project, _log_events_by_span(project, {(r.trace_id, r.span_id) for r in rows}))
        signals.log_events_stored.send(sender=Project, project=project, events=events)
    return len(rows)


def redaction_policy(project: Project) -> redaction.Policy:
    """What this project redacts at intake. Pseudonyms of redacted user and session ids are keyed
    with SECRET_KEY, so they stay stable across requests and workers of one deployment."""
    return redaction.Policy(
        secrets=project.redact_secrets,
        pii=project.redact_pii,
        pseudonym_key=settings.SECRET_KEY.encode(),
    )


def recompute_runs(project: Project, trace_ids: list[str]) -> None:
    """Recompute each trace's Run from all its stored spans (never incremented)."""
    _update_runs(project, list(_stored_spans(project, trace_ids).values()))


@dataclass(slots=True)
class _RunSpan:
    """What a run's recompute needs of one of its spans: a stored one (`pk`) or a new row."""

    trace_id: str
    api_key_id: int | None
    counts_usage: bool
    facts: run_summary.SpanFacts
    pk: int | None = None
    row: dict[str, Any] | None = None

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> _RunSpan:
        return cls(row["trace_id"], row["api_key_id"], False, _facts(row), row=row)


_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(run_summary.SpanFacts))


def _facts(row: dict[str, Any]) -> run_summary.SpanFacts:
    """A span's facts from its columns; the run shows a span by its display name when it has one."""
    facts = run_summary.SpanFacts(**{name: row[name] for name in _FACT_FIELDS})
    facts.name = row["display_name"] or row["name"]
    return facts


def _stored_spans(project: Project, trace_ids: list[str]) -> dict[tuple[str, str], _RunSpan]:
    stored: dict[tuple[str, str], _RunSpan] = {}
    columns = ("pk", "trace_id", "api_key_id", "counts_usage", "display_name", *_FACT_FIELDS)
    for row in Span.objects.filter(project=project, trace_id__in=trace_ids).values(*columns).iterator(2000):
        stored[(row["trace_id"], row["span_id"])] = _RunSpan(
            row["trace_id"], row["api_key_id"], row["counts_usage"], _facts(row), pk=row["pk"]
        )
    return stored


def _update_runs(project: Project, spans: list[_RunSpan]) -> None:
    """Summarize each trace's spans into its Run, and flag the spans whose usage counts in totals
    (rollups sum exactly these): stored spans are updated, new rows are set before their insert."""
    by_trace: dict[str, list[_RunSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    summaries = {trace_id: run_summary.summarize([s.facts for s in group]) for trace_id, group in by_trace.items()}
    flips: dict[bool, list[int]] = {True: [], False: []}
    roots: dict[str, _RunSpan] = {}
    for trace_id, group in by_trace.items():
        summary = summaries[trace_id]
        for span in group:
            counts = span.facts.span_id in summary.usage_span_ids
            if span.row is not None:
                span.row["counts_usage"] = counts
            elif counts != span.counts_usage and span.pk is not None:
                flips[counts].append(span.pk)
            if span.facts.span_id == summary.root_span_id:
                roots[trace_id] = span
    for flag, pks in flips.items():
        if pks:
            Span.objects.filter(pk__in=pks).update(counts_usage=flag)
    root_io = _root_io(project, roots)
    now = timezone.now()
    _upsert_runs(
        [
            _run_row(project, trace_id, s, by_trace[trace_id][0].api_key_id, root_io.get(trace_id), now)
            for trace_id, s in summaries.items()
        ]
    )


def _upsert_runs(rows: list[dict[str, Any]]) -> None:
    """Insert or update each trace's run. On PostgreSQL straight from the values, like the spans'
    COPY: Django's per-value preparation cost more than the statement. Elsewhere bulk_create."""
    if connection.vendor == "postgresql":
        copying.upsert_rows(Run, rows, unique_fields=["project", "trace_id"], update_fields=_RUN_UPDATE_FIELDS)
        return
    Run.objects.bulk_create(
        [Run(**row) for row in rows],
        update_conflicts=True,
        unique_fields=["project", "trace_id"],
        update_fields=_RUN_UPDATE_FIELDS,
        batch_size=500,
    )


_RUN_UPDATE_FIELDS = [
    "name", "agent_name", "user_id", "session_id", "environment", "service_name", "tags", "root_span_id",
    "has_root", "status", "error_message", "start_time", "end_time", "duration_ms", "input", "output",
    "span_count", "llm_calls", "failed_llm_calls", "tool_calls", "tool_errors", "guardrail_trips", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
    "unpriced_calls", "updated_at",
]  # fmt: skip


def _root_io(project: Project, roots: dict[str, _RunSpan]) -> dict[str, tuple[Any, Any]]:
    """Each run's input and output: its root span's. Stored roots are read by primary key: a
    lookup by (trace id, span id) lists let PostgreSQL with stale statistics scan the whole
    project instead."""
    io = {t: (r.row["input"], r.row["output"]) for t, r in roots.items() if r.row is not None}
    stored = [r.pk for r in roots.values() if r.pk is not None]
    if stored:
        for r in Span.objects.filter(project=project, pk__in=stored).values("trace_id", "input", "output"):
            io[r["trace_id"]] = (r["input"], r["output"])
    return io


def _insert_spans(rows: list[dict[str, Any]]) -> None:
    """Insert new spans (the caller holds their traces' locks and checked none is stored).

    On PostgreSQL the rows are COPYed: about twice as fast as a multi-row INSERT for spans with
    large JSON attributes. Other databases use bulk_create.
    """
    if connection.vendor == "postgresql":
        copying.copy_rows(Span, rows)
    else:
        Span.objects.bulk_create([Span(**row) for row in rows], ignore_conflicts=True, batch_size=500)


def _lock_traces(project: Project, trace_ids: list[str]) -> None:
    """Serialize concurrent writers of the same trace so each recompute sees every committed span.

    SQLite already serializes writers (IMMEDIATE transactions); PostgreSQL takes one
    transaction-scoped advisory lock per trace, in a fixed order so two requests cannot deadlock.
    """
    if connection.vendor != "postgresql":
        return
    lock_keys = sorted(advisory_key(project.pk, t) for t in trace_ids)  # the lock named "<project>:<trace>"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS ordered",
            [lock_keys],
        )


def _span_row(
    project: Project,
    api_key: ApiKey,
    raw: RawSpan,
    f: SpanFields,
    overrides: list[book.PriceOverride],
    received_at: datetime,
) -> dict[str, Any]:
    """The span's columns by attribute name: COPY takes them as they are (a model instance
    would cost more to build than the COPY itself)."""
    start = storable.datetime_from_ns(raw.start_ns)
    end = storable.datetime_from_ns(max(raw.end_ns, raw.start_ns))
    hints = {
        "run_name": f.run_name,
        "environment": f.environment,
        "tags": f.tags,
        "service_name": raw.resource.get("service.name"),
        "is_root": f.is_root,
        "framework_node": _is_framework_node(raw),
        "agent_by_rule": f.agent_by_rule,
    }
    cost = lookup.span_cost(
        priced=f.kind in run_summary.USAGE_KINDS,
        provider=f.provider,
        model=f.response_model or f.request_model,
        usage=book.Usage(
            f.input_tokens,
            f.output_tokens,
            f.cache_read_tokens,
            f.cache_write_tokens,
            f.reasoning_tokens,
            modalities=f.modality_tokens,
        ),
        at=start,
        reported_cost=f.reported_cost,
        overrides=overrides,
    )
    return {
        "project_id": project.pk,
        "api_key_id": api_key.pk,
        "trace_id": raw.trace_id,
        "span_id": raw.span_id,
        "parent_span_id": raw.parent_span_id,
        "name": storable.text(raw.name, 512),
        "display_name": storable.text(f.display_name, 512),
        "kind": f.kind,
        "convention": f.convention,
        "operation": storable.text(f.operation, 64),
        "otel_kind": raw.kind if 0 <= raw.kind <= 5 else 0,
        "start_time": start,
        "end_time": end,
        "duration_ms": (end - start).total_seconds() * 1000,
        "is_error": f.is_error,
        "error_type": storable.text(f.error_type, 200),
        "error_message": storable.text(f.error_message, 10_000),
        "provider": storable.text(f.provider, 100),
        "request_model": storable.text(f.request_model, 200),
        "response_model": storable.text(f.response_model, 200),
        "input_tokens": f.input_tokens,
        "output_tokens": f.output_tokens,
        "cache_read_tokens": f.cache_read_tokens,
        "cache_write_tokens": f.cache_write_tokens,
        "reasoning_tokens": f.reasoning_tokens,
        "aggregated_usage": f.aggregated_usage,
        "usage_warnings": f.usage_warnings,
        "modality_tokens": f.modality_tokens,
        "reported_cost": storable.money(f.reported_cost),
        "cost_usd": storable.money(cost.cost_usd),
        "cost_source": cost.cost_source,
        "computed_cost": storable.money(cost.computed_cost),
        "cost_discrepancy": storable.money(cost.cost_discrepancy),
        "price_ref": cost.price_ref,
        "response_id": storable.text(f.response_id, 200),
        "finish_reason": storable.text(f.finish_reason, 64),
        "tool_name": storable.text(f.tool_name, 200),
        "tool_call_id": storable.text(f.tool_call_id, 200),
        "mcp_server": storable.text(f.mcp_server, 200),
        "guardrail_verdict": f.guardrail_verdict,
        "agent_name": storable.text(f.agent_name, 200),
        "session_id": storable.text(f.session_id, 200),
        "user_id": storable.text(f.user_id, 200),
        "input": storable.json_value(f.input if f.input is not None else f.tool_arguments),
        "output": storable.json_value(f.output if f.output is not None else f.tool_result),
        "attributes": storable.json_value(_without(raw.attributes, f.io_keys)),
        "resource": storable.json_value(raw.resource),
        "events": storable.json_value(
            [{"name": e.name, "time_ns": str(e.time_ns), "attributes": e.attributes} for e in raw.events]
        ),
        "unmapped": f.unmapped,
        "run_hints": storable.json_value({k: v for k, v in hints.items() if v}),
        "scope_name": storable.text(raw.scope_name, 200),
        "scope_version": storable.text(raw.scope_version, 100),
        "counts_usage": False,  # set by _update_runs
        "received_at": received_at,
    }


def _without(attributes: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The raw attributes minus the message carriers already stored as input/output."""
    if not keys:
        return attributes
    drop = set(keys)
    return {k: v for k, v in attributes.items() if k not in drop}


def _is_framework_node(raw: RawSpan) -> bool:
    """A LangGraph node span (its name is the framework's, e.g. "agent", not the user's agent)."""
    metadata = raw.attributes.get("metadata")
    if isinstance(metadata, str) and "langgraph_node" in metadata:
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return False
    return isinstance(metadata, dict) and metadata.get("langgraph_node") == raw.name


def _log_row(project: Project, event: LogEvent) -> LogRecord:
    attributes = storable.json_value(event.attributes)
    body = storable.json_value(event.body)
    content = json.dumps([event.time_ns, event.name, attributes, body], sort_keys=True, default=str)
    return LogRecord(
        project=project,
        trace_id=event.trace_id,
        span_id=event.span_id,
        time=storable.datetime_from_ns(event.time_ns),
        name=storable.text(event.name, 200),
        attributes=attributes,
        body=body,
        digest=hashlib.sha256(content.encode()).hexdigest(),
    )


def _log_events_by_span(project: Project, span_keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[LogEvent]]:
    """The stored GenAI log events of these spans, oldest first."""
    if not span_keys:
        return {}
    trace_ids = {t for t, _ in span_keys}
    found: dict[tuple[str, str], list[LogEvent]] = {}
    for rec in LogRecord.objects.filter(project=project, trace_id__in=trace_ids).order_by("time", "pk"):
        key = (rec.trace_id, rec.span_id)
        if key in span_keys:
            found.setdefault(key, []).append(LogEvent(rec.trace_id, rec.span_id, 0, rec.name, rec.attributes, rec.body))
    return found


def _fill_from_log_events(rows: list[dict[str, Any]], events: dict[tuple[str, str], list[LogEvent]]) -> None:
    """Fill new spans' missing input/output from the log events that arrived before them."""
    for row in rows:
        found = events.get((row["trace_id"], row["span_id"]))
        if found:
            row["input"], row["output"] = _with_log_messages(row["input"], row["output"], found)


def _attach_to_stored(project: Project, events: dict[tuple[str, str], list[LogEvent]]) -> None:
    """Fill stored spans' missing input/output from their log events, whichever arrived first."""
    for (trace_id, span_id), found in events.items():
        span = (
            Span.objects.filter(project=project, trace_id=trace_id, span_id=span_id)
            .only("pk", "input", "output")
            .first()
        )
        if span is None:
            continue
        filled = _with_log_messages(span.input, span.output, found)
        if filled != (span.input, span.output):
            span.input, span.output = filled
            span.save(update_fields=["input", "output"])


def _with_log_messages(io_input: Any, io_output: Any, events: list[LogEvent]) -> tuple[Any, Any]:
    """A span's input and output, each taken from its GenAI log events where the span has none."""
    messages_in, messages_out = messages.messages_from_log_events(events)
    if messages_in is not None and not io_input:
        io_input = storable.json_value(messages_in)
    if messages_out is not None and not io_output:
        io_output = storable.json_value(messages_out)
    return io_input, io_output


def _run_row(
    project: Project,
    trace_id: str,
    s: run_summary.RunSummary,
    api_key_id: int | None,
    io: tuple[Any, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The run's columns by attribute name, as `copying.upsert_rows` takes them."""
    return {
        "project_id": project.pk,
        "trace_id": trace_id,
        "api_key_id": api_key_id,
        "name": storable.text(s.name, 512),
        "agent_name": storable.text(s.agent_name, 200),
        "user_id": s.user_id,
        "session_id": s.session_id,
        "environment": storable.text(s.environment, 100),
        "service_name": storable.text(s.service_name, 200),
        "tags": s.tags,
        "root_span_id": s.root_span_id,
        "has_root": s.has_root,
        "status": s.status,
        "error_message": s.error_message,
        "start_time": s.start_time,
        "end_time": s.end_time,
        "duration_ms": s.duration_ms,
        "input": io[0] if io else None,
        "output": io[1] if io else None,
        "span_count": s.span_count,
        "llm_calls": s.llm_calls,
        "failed_llm_calls": s.failed_llm_calls,
        "tool_calls": s.tool_calls,
        "tool_errors": s.tool_errors,
        "guardrail_trips": s.guardrail_trips,
        "input_tokens": storable.count(s.input_tokens),
        "output_tokens": storable.count(s.output_tokens),
        "cache_read_tokens": storable.count(s.cache_read_tokens),
        "cache_write_tokens": storable.count(s.cache_write_tokens),
        "reasoning_tokens": storable.count(s.reasoning_tokens),
        "cost_usd": storable.money(s.cost_usd),
        "unpriced_calls": s.unpriced_calls,
        "updated_at": now,
    }
