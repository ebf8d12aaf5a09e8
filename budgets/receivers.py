"""How budgets listens: per-run caps are checked as spans arrive, so a runaway run alerts within
seconds rather than at the next rollup pass (which checks again, as a backstop); budgets are
evaluated after each rollup pass; new alerts wake the outbox."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from aggregates.signals import rollups_updated
from budgets import run_caps, tasks
from budgets.signals import alerts_created
from ingest.models import Run
from ingest.signals import runs_updated
from tenancy.models import Project

log = logging.getLogger(__name__)


@receiver(runs_updated)
def check_run_caps_at_ingest(sender: Any, project: Project, trace_ids: list[str], **kwargs: Any) -> None:
    try:
        if run_caps.capped_budgets(project).exists():
            run_caps.check_run_caps(project, Run.objects.filter(project=project, trace_id__in=trace_ids))
    except Exception:  # the spans are stored; the rollup pass will check again
        log.exception("per-run cap check failed for project %s", project.pk)


@receiver(rollups_updated)
def evaluate_budgets_after_rollups(sender: Any, **kwargs: Any) -> None:
    tasks.evaluate_budgets.delay()  # budgets read the rollups the pass brought up to date


@receiver(alerts_created)
def wake_delivery(sender: Any, **kwargs: Any) -> None:
    tasks.deliver_alerts.delay_on_commit()
