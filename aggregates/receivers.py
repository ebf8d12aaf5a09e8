"""How the rollups follow intake: the traces that stored or changed spans touch are marked in
the writer's own transaction, so a mark commits (or rolls back) with the data it is for; once
the spans are committed, the delta pass is woken (at most once a second), so the rows follow
within seconds rather than at the next beat."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver

from aggregates import rollups, tasks
from ingest.records import RawSpan
from ingest.signals import runs_updated, spans_stored, traces_changed
from tenancy.models import Project

log = logging.getLogger(__name__)


@receiver(spans_stored)
def mark_stored_spans(
    sender: Any, project: Project, spans: list[RawSpan], span_starts: list[datetime], **kwargs: Any
) -> None:
    rollups.mark_spans_stored(project, {span.trace_id for span in spans}, span_starts)


@receiver(traces_changed)
def mark_changed_traces(sender: Any, project: Project, trace_ids: list[str], **kwargs: Any) -> None:
    rollups.mark_traces_dirty(project, trace_ids)


_last_wake = 0.0  # this process's last wake: most requests need not ask the shared cache


@receiver(runs_updated)
def wake_delta_pass(sender: Any, **kwargs: Any) -> None:
    """Best effort: the spans are committed and marked, and the beat's pass applies them anyway."""
    global _last_wake
    interval = settings.AGENTLEDGER_DELTA_WAKE_SECONDS
    if time.monotonic() - _last_wake < interval:
        return
    _last_wake = time.monotonic()
    try:
        if cache.add("aggregates:delta-pass-woken", 1, timeout=interval):
            tasks.apply_deltas.apply_async(retry=False)
    except Exception as exc:  # broker or cache down: intake must still answer 200
        log.warning("could not wake the delta pass: %s", exc)
