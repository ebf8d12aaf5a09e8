"""OpenTelemetry evaluation events (gen_ai.evaluation.result) become scores as intake stores
them, in the same transaction; score rollups are recomputed with each hour of run rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from aggregates.signals import hour_rolled_up
from ingest.records import LogEvent, RawSpan
from ingest.signals import log_events_stored, spans_stored
from scores import rollups, services
from tenancy.models import Project


@receiver(spans_stored)
def scores_from_span_events(sender: Any, project: Project, spans: list[RawSpan], **kwargs: Any) -> None:
    services.scores_from_spans(project, spans)


@receiver(log_events_stored)
def scores_from_log_records(sender: Any, project: Project, events: list[LogEvent], **kwargs: Any) -> None:
    services.scores_from_log_events(project, events)


@receiver(hour_rolled_up)
def roll_up_scores(sender: Any, project: Project, hour: datetime, **kwargs: Any) -> None:
    rollups.rollup_scores_hour(project, hour)
