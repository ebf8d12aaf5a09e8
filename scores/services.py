"""Writes: scores from the API, from OpenTelemetry evaluation events at intake, and from people
on the run page. Every path ends in `scores_upsert`, so a re-sent score replaces the one before
it (same project, trace, span, name, source and author) and never counts twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from django.db import transaction

from ingest import storable
from ingest.records import LogEvent, RawSpan
from scores import otel, rollups
from scores.models import Score
from tenancy.models import Project

FEEDBACK_NAME = "user_feedback"
MAX_EXPLANATION = 10_000

_KEY = ["project", "trace_id", "span_id", "name", "source", "author"]
_REPLACED = ["data_type", "value", "label", "explanation", "updated_at"]


@dataclass(frozen=True, slots=True)
class NewScore:
    trace_id: str
    name: str
    data_type: str  # Score.DataType
    value: float | None
    source: str  # Score.Source
    label: str = ""
    explanation: str = ""
    author: str = ""
    span_id: str = ""


@transaction.atomic
def scores_upsert(project: Project, scores: Iterable[NewScore]) -> int:
    """Insert or replace scores; the last of a batch wins when it repeats a key. Returns how
    many distinct scores were written. Rows go in key order, so two batches that share scores
    lock them in the same order and cannot deadlock."""
    latest: dict[tuple[str, ...], Score] = {}
    for new in scores:
        row = _row(project, new)
        latest[(row.trace_id, row.span_id, row.name, row.source, row.author)] = row
    rows = [latest[key] for key in sorted(latest)]
    Score.objects.bulk_create(rows, update_conflicts=True, unique_fields=_KEY, update_fields=_REPLACED, batch_size=500)
    rollups.mark_runs_dirty(project, {row.trace_id for row in rows})
    return len(rows)


def _row(project: Project, new: NewScore) -> Score:
    fields = asdict(new)
    for name, limit in (("name", 200), ("label", 200), ("author", 200), ("explanation", MAX_EXPLANATION)):
        fields[name] = storable.text(fields[name], limit)  # PostgreSQL text refuses NUL characters
    return Score(project=project, **fields)


# --- OpenTelemetry: called by ingest.services inside the intake transaction -----------------


def scores_from_spans(project: Project, spans: Sequence[RawSpan]) -> int:
    """Scores from the `gen_ai.evaluation.result` events of spans, each on the span that carries
    it. The author is the `service.name` of the program that exported the event."""
    found = [
        _from_verdict(verdict, raw.trace_id, raw.span_id, raw.resource.get("service.name"))
        for raw in spans
        for event in raw.events
        if event.name == otel.EVENT_NAME and (verdict := otel.verdict(event.attributes))
    ]
    return scores_upsert(project, found) if found else 0


def scores_from_log_events(project: Project, events: Sequence[LogEvent]) -> int:
    """Scores from `gen_ai.evaluation.result` log records: on the record's span, or on the run
    as a whole when it has a trace id but no span id. Without a trace id there is no run to score."""
    found = [
        _from_verdict(verdict, event.trace_id, event.span_id, event.service_name)
        for event in events
        if event.name == otel.EVENT_NAME and event.trace_id and (verdict := otel.verdict(event.attributes))
    ]
    return scores_upsert(project, found) if found else 0


def _from_verdict(verdict: otel.Verdict, trace_id: str, span_id: str, service: object) -> NewScore:
    return NewScore(
        trace_id=trace_id,
        span_id=span_id,
        name=verdict.name,
        data_type=verdict.data_type,
        value=verdict.value,
        label=verdict.label,
        explanation=verdict.explanation,
        source=Score.Source.OTEL,
        author=storable.text(service or "", 200),
    )


# --- Annotation: a person's thumbs up or down on the run page -------------------------------


@transaction.atomic(durable=True)
def feedback_record(project: Project, trace_id: str, *, author: str, thumbs_up: bool, comment: str = "") -> None:
    """One `user_feedback` score per person and run: annotating again replaces it."""
    scores_upsert(
        project,
        [
            NewScore(
                trace_id=trace_id,
                name=FEEDBACK_NAME,
                data_type=Score.DataType.BOOLEAN,
                value=1.0 if thumbs_up else 0.0,
                label="thumbs up" if thumbs_up else "thumbs down",
                explanation=comment.strip(),
                source=Score.Source.ANNOTATION,
                author=author,
            )
        ],
    )
