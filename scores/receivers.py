"""OpenTelemetry evaluation events (gen_ai.evaluation.result) become scores as intake stores
them, in the same transaction."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from ingest.models import Project
from ingest.signals import log_events_stored, spans_stored
from ingest.telemetry import LogEvent, RawSpan
from scores import services


@receiver(spans_stored)
def scores_from_span_events(sender: Any, project: Project, spans: list[RawSpan], **kwargs: Any) -> None:
    services.scores_from_spans(project, spans)


@receiver(log_events_stored)
def scores_from_log_records(sender: Any, project: Project, events: list[LogEvent], **kwargs: Any) -> None:
    services.scores_from_log_events(project, events)
