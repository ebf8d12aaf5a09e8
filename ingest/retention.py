"""Services: enforce each project's retention (Project.retention_days) on runs and spans.

Whole traces go, in batches: a run whose end is older than the project's retention, with its
spans and log records. Rollups are kept; rollups.retention_horizon freezes the hours that may
have lost runs, so nothing recomputes them from what is left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ingest.models import LogRecord, Run, Span
from tenancy.models import Project

BATCH_TRACES = 500


def retention_enforce(*, now: datetime | None = None, batch_traces: int = BATCH_TRACES) -> int:
    """Delete expired traces of every project with a retention; returns how many."""
    now = now or timezone.now()
    deleted = 0
    for project in Project.objects.filter(retention_days__isnull=False).order_by("pk"):
        cutoff = now - timedelta(days=project.retention_days or 0)
        expired = Run.objects.filter(project=project, end_time__lt=cutoff)
        while trace_ids := list(expired.values_list("trace_id", flat=True)[:batch_traces]):
            with transaction.atomic():
                for model in (Span, LogRecord, Run):
                    model.objects.filter(project=project, trace_id__in=trace_ids).delete()
            deleted += len(trace_ids)
    return deleted
