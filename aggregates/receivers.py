"""How the rollups follow intake: the buckets that stored or changed spans touch are marked dirty
in the writer's own transaction, so a mark commits (or rolls back) with the data it is for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from aggregates import rollups
from ingest.signals import spans_stored, traces_changed
from tenancy.models import Project


@receiver(spans_stored)
def mark_stored_spans_dirty(sender: Any, project: Project, span_starts: list[datetime], **kwargs: Any) -> None:
    rollups.mark_starts_dirty(project, span_starts)


@receiver(traces_changed)
def mark_changed_traces_dirty(sender: Any, project: Project, trace_ids: list[str], **kwargs: Any) -> None:
    rollups.mark_traces_dirty(project, trace_ids)
