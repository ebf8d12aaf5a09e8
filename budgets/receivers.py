"""Per-run caps are checked as spans arrive, so a runaway run alerts within seconds rather than
at the next rollup pass (which checks again, as a backstop)."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from budgets import services
from ingest.models import Run
from ingest.signals import runs_updated
from tenancy.models import Project

log = logging.getLogger(__name__)


@receiver(runs_updated)
def check_run_caps_at_ingest(sender: Any, project: Project, trace_ids: list[str], **kwargs: Any) -> None:
    try:
        if services.capped_budgets(project).exists():
            services.check_run_caps(project, Run.objects.filter(project=project, trace_id__in=trace_ids))
    except Exception:  # the spans are stored; the rollup pass will check again
        log.exception("per-run cap check failed for project %s", project.pk)
