"""Writes: tenancy (organizations, projects, keys) and, below, telemetry intake."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from ingest import conventions, copying, costs, keys, pricing, redaction, rollups, runs, signals, storable
from ingest.conventions import messages
from ingest.models import (
    ApiKey,
    LogRecord,
    Organization,
    Project,
    Run,
    Span,
    WorkerHeartbeat,
)
from ingest.telemetry import DecodedTraces, LogEvent, RawSpan, Rejected, SpanFields

log = logging.getLogger(__name__)

DEFAULT_ORG_SLUG = "default"


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def organization_get_or_create(*, slug: str = DEFAULT_ORG_SLUG, name: str = "") -> Organization:
    org, _ = Organization.objects.get_or_create(
        slug=slugify(slug) or DEFAULT_ORG_SLUG,
        defaults={"name": name or slug.replace("-", " ").title()},
    )
    return org


def api_key_create(project: Project, *, name: str = "default") -> NewKey:
    raw = keys.generate_key()
    api_key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=keys.key_prefix(raw),
        key_hash=keys.hash_key(raw),
    )
    return NewKey(api_key=api_key, raw_key=raw)


def api_key_revoke(api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now())


def api_key_mark_used(api_key: ApiKey) -> None:
    """Record use at most once a minute, so a busy exporter does not write on every request."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def project_create(
    name: str, *, org_slug: str = DEFAULT_ORG_SLUG, timezone_name: str = "UTC"
) -> tuple[Project, NewKey]:
    """Create a project (and its organization when needed) with a first ingest key."""
    org = organization_get_or_create(slug=org_slug)
    base = slugify(name) or "project"
    slug, n = base, 1
    while Project.objects.filter(organization=org, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    project = Project(organization=org, name=name, slug=slug, timezone=timezone_name)
    project.full_clean()
    project.save()
    return project, api_key_create(project, name="default")


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
    overrides = costs.overrides_for(project)
    rows = [_span_row(project, api_key, raw, fields, overrides) for raw, fields in items]
    trace_ids = sorted({row.trace_id for row in rows})
    with transaction.atomic(durable=True):
        _lock_traces(project, trace_ids)
        _insert_spans(rows)
        _attach_log_records(project, {(r.trace_id, r.span_id) for r in rows})
        signals.spans_stored.send(sender=Project, project=project, spans=[raw for raw, _ in items])
        recompute_runs(project, trace_ids)
        rollups.mark_traces_dirty(project, trace_ids)
    signals.runs_updated.send(sender=Project, project=project, trace_ids=trace_ids)
    return len(rows)


def ingest_log_events(api_key: ApiKey, events: list[LogEvent]) -> int:
    """Store GenAI events sent as log records and fill in their spans' messages."""
    project = api_key.project
    policy = redaction_policy(project)
    if policy.active:
        events = [redaction.log_event(e, policy) for e in events]
    rows = [_log_row(project, e) for e in events if e.trace_id and e.span_id]
    with transaction.atomic(durable=True):
        LogRecord.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        _attach_log_records(project, {(r.trace_id, r.span_id) for r in rows})
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
    facts: dict[str, list[runs.SpanFacts]] = {}
    api_keys: dict[str, int | None] = {}
    pks: dict[tuple[str, str], int] = {}
    counted_before: set[int] = set()
    for row in Span.objects.filter(project=project, trace_id__in=trace_ids).values("pk", *_FACT_COLUMNS).iterator(2000):
        trace_id, api_key_id, pk = (
            row.pop("trace_id"),
            row.pop("api_key_id"),
            row.pop("pk"),
        )
        pks[(trace_id, row["span_id"])] = pk
        if row.pop("counts_usage"):
            counted_before.add(pk)
        row["name"] = row.pop("display_name") or row["name"]
        facts.setdefault(trace_id, []).append(runs.SpanFacts(**row))
        api_keys.setdefault(trace_id, api_key_id)
    summaries = {trace_id: runs.summarize(spans) for trace_id, spans in facts.items()}
    counted_now = {pks[(t, span_id)] for t, s in summaries.items() for span_id in s.usage_span_ids}
    _update_usage_flags(counted_before, counted_now)
    root_io = _root_io(project, summaries, pks)
    Run.objects.bulk_create(
        [
            _run_row(
                project,
                trace_id,
                s,
                api_keys[trace_id],
                root_io.get((trace_id, s.root_span_id)),
            )
            for trace_id, s in summaries.items()
        ],
        update_conflicts=True,
        unique_fields=["project", "trace_id"],
        update_fields=_RUN_UPDATE_FIELDS,
        batch_size=500,
    )


_FACT_COLUMNS = (
    "trace_id", "api_key_id", "counts_usage", "span_id", "parent_span_id", "name", "display_name", "kind",
    "start_time", "end_time", "is_error", "error_message", "agent_name", "user_id", "session_id",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "cost_usd", "response_id", "request_model", "scope_name", "aggregated_usage", "run_hints",
)  # fmt: skip

_RUN_UPDATE_FIELDS = [
    "name", "agent_name", "user_id", "session_id", "environment", "service_name", "tags", "root_span_id",
    "has_root", "status", "error_message", "start_time", "end_time", "duration_ms", "input", "output",
    "span_count", "llm_calls", "failed_llm_calls", "tool_calls", "tool_errors", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
    "unpriced_calls", "updated_at",
]  # fmt: skip


def _insert_spans(rows: list[Span]) -> None:
    """Insert spans, skipping any already stored (same project, trace id, span id).

    On PostgreSQL the rows are COPYed into a temporary table and moved with one
    INSERT … ON CONFLICT DO NOTHING: about twice as fast as a multi-row INSERT for spans
    with large JSON attributes. Other databases use bulk_create.
    """
    if connection.vendor != "postgresql":
        Span.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        return
    now = timezone.now()
    for row in rows:
        row.received_at = now
    columns = copying.columns(Span)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE span_staging ON COMMIT DROP AS SELECT {columns} FROM ingest_span LIMIT 0")  # noqa: S608
        copying.copy_instances(Span, rows, table="span_staging")
        cursor.execute(f"INSERT INTO ingest_span ({columns}) SELECT {columns} FROM span_staging ON CONFLICT DO NOTHING")  # noqa: S608
        cursor.execute("DROP TABLE span_staging")


def _lock_traces(project: Project, trace_ids: list[str]) -> None:
    """Serialize concurrent writers of the same trace so each recompute sees every committed span.

    SQLite already serializes writers (IMMEDIATE transactions); PostgreSQL takes one
    transaction-scoped advisory lock per trace, in a fixed order so two requests cannot deadlock.
    """
    if connection.vendor != "postgresql":
        return
    lock_keys = sorted(_lock_key(project.pk, t) for t in trace_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS ordered",
            [lock_keys],
        )


def _lock_key(project_id: int, trace_id: str) -> int:
    digest = hashlib.blake2b(f"{project_id}:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _span_row(
    project: Project, api_key: ApiKey, raw: RawSpan, f: SpanFields, overrides: list[pricing.PriceOverride]
) -> Span:
    start = storable.datetime_from_ns(raw.start_ns)
    end = storable.datetime_from_ns(max(raw.end_ns, raw.start_ns))
    hints = {
        "run_name": f.run_name,
        "environment": f.environment,
        "tags": f.tags,
        "service_name": raw.resource.get("service.name"),
        "is_root": f.is_root,
        "framework_node": _is_framework_node(raw),
    }
    cost = costs.span_cost(
        kind=f.kind,
        provider=f.provider,
        model=f.response_model or f.request_model,
        usage=pricing.Usage(
            f.input_tokens, f.output_tokens, f.cache_read_tokens, f.cache_write_tokens, f.reasoning_tokens
        ),
        at=start,
        reported_cost=f.reported_cost,
        overrides=overrides,
    )
    return Span(
        project=project,
        api_key=api_key,
        trace_id=raw.trace_id,
        span_id=raw.span_id,
        parent_span_id=raw.parent_span_id,
        name=storable.text(raw.name, 512),
        display_name=storable.text(f.display_name, 512),
        kind=f.kind,
        convention=f.convention,
        operation=storable.text(f.operation, 64),
        otel_kind=raw.kind if 0 <= raw.kind <= 5 else 0,
        start_time=start,
        end_time=end,
        duration_ms=(end - start).total_seconds() * 1000,
        is_error=f.is_error,
        error_type=storable.text(f.error_type, 200),
        error_message=storable.text(f.error_message, 10_000),
        provider=storable.text(f.provider, 100),
        request_model=storable.text(f.request_model, 200),
        response_model=storable.text(f.response_model, 200),
        input_tokens=f.input_tokens,
        output_tokens=f.output_tokens,
        cache_read_tokens=f.cache_read_tokens,
        cache_write_tokens=f.cache_write_tokens,
        reasoning_tokens=f.reasoning_tokens,
        aggregated_usage=f.aggregated_usage,
        reported_cost=storable.money(f.reported_cost),
        cost_usd=storable.money(cost.cost_usd),
        cost_source=cost.cost_source,
        computed_cost=storable.money(cost.computed_cost),
        cost_discrepancy=storable.money(cost.cost_discrepancy),
        price_ref=cost.price_ref,
        response_id=storable.text(f.response_id, 200),
        finish_reason=storable.text(f.finish_reason, 64),
        tool_name=storable.text(f.tool_name, 200),
        tool_call_id=storable.text(f.tool_call_id, 200),
        agent_name=storable.text(f.agent_name, 200),
        session_id=storable.text(f.session_id, 200),
        user_id=storable.text(f.user_id, 200),
        input=storable.json_value(f.input if f.input is not None else f.tool_arguments),
        output=storable.json_value(f.output if f.output is not None else f.tool_result),
        attributes=storable.json_value(_without(raw.attributes, f.io_keys)),
        resource=storable.json_value(raw.resource),
        events=storable.json_value(
            [{"name": e.name, "time_ns": str(e.time_ns), "attributes": e.attributes} for e in raw.events]
        ),
        unmapped=f.unmapped,
        run_hints=storable.json_value({k: v for k, v in hints.items() if v}),
        scope_name=storable.text(raw.scope_name, 200),
    )


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


def _attach_log_records(project: Project, span_keys: set[tuple[str, str]]) -> None:
    """Fill a span's input/output from GenAI log events, whichever of the two arrived first."""
    if not span_keys:
        return
    trace_ids = {t for t, _ in span_keys}
    records: dict[tuple[str, str], list[LogEvent]] = {}
    for rec in LogRecord.objects.filter(project=project, trace_id__in=trace_ids).order_by("time", "pk"):
        key = (rec.trace_id, rec.span_id)
        if key in span_keys:
            event = LogEvent(rec.trace_id, rec.span_id, 0, rec.name, rec.attributes, rec.body)
            records.setdefault(key, []).append(event)
    for (trace_id, span_id), events in records.items():
        messages_in, messages_out = messages.messages_from_log_events(events)
        span = (
            Span.objects.filter(project=project, trace_id=trace_id, span_id=span_id)
            .only("pk", "input", "output")
            .first()
        )
        if span is None:
            continue
        changed = []
        if messages_in is not None and not span.input:
            span.input = storable.json_value(messages_in)
            changed.append("input")
        if messages_out is not None and not span.output:
            span.output = storable.json_value(messages_out)
            changed.append("output")
        if changed:
            span.save(update_fields=changed)


def _update_usage_flags(counted_before: set[int], counted_now: set[int]) -> None:
    """Store which spans count in totals (rollups sum exactly these)."""
    for flag, pks in (
        (True, counted_now - counted_before),
        (False, counted_before - counted_now),
    ):
        if pks:
            Span.objects.filter(pk__in=pks).update(counts_usage=flag)


def _root_io(
    project: Project, summaries: dict[str, runs.RunSummary], pks: dict[tuple[str, str], int]
) -> dict[tuple[str, str], tuple[Any, Any]]:
    """The root spans' input and output, read by primary key: a lookup by (trace id, span id)
    lists let PostgreSQL with stale statistics scan the whole project instead."""
    root_pks = [pk for t, s in summaries.items() if (pk := pks.get((t, s.root_span_id))) is not None]
    roots = Span.objects.filter(project=project, pk__in=root_pks)
    return {
        (r["trace_id"], r["span_id"]): (r["input"], r["output"])
        for r in roots.values("trace_id", "span_id", "input", "output")
    }


def _run_row(
    project: Project,
    trace_id: str,
    s: runs.RunSummary,
    api_key_id: int | None,
    io: tuple[Any, Any] | None,
) -> Run:
    return Run(
        project=project,
        trace_id=trace_id,
        api_key_id=api_key_id,
        name=storable.text(s.name, 512),
        agent_name=storable.text(s.agent_name, 200),
        user_id=s.user_id,
        session_id=s.session_id,
        environment=storable.text(s.environment, 100),
        service_name=storable.text(s.service_name, 200),
        tags=s.tags,
        root_span_id=s.root_span_id,
        has_root=s.has_root,
        status=s.status,
        error_message=s.error_message,
        start_time=s.start_time,
        end_time=s.end_time,
        duration_ms=s.duration_ms,
        input=io[0] if io else None,
        output=io[1] if io else None,
        span_count=s.span_count,
        llm_calls=s.llm_calls,
        failed_llm_calls=s.failed_llm_calls,
        tool_calls=s.tool_calls,
        tool_errors=s.tool_errors,
        input_tokens=storable.count(s.input_tokens),
        output_tokens=storable.count(s.output_tokens),
        cache_read_tokens=storable.count(s.cache_read_tokens),
        cache_write_tokens=storable.count(s.cache_write_tokens),
        reasoning_tokens=storable.count(s.reasoning_tokens),
        cost_usd=storable.money(s.cost_usd),
        unpriced_calls=s.unpriced_calls,
        updated_at=timezone.now(),
    )
