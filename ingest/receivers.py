"""What intake does when other apps ask: reprice stored spans when a project's prices change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from ingest import repricing, tasks
from pricing.signals import reprice_requested
from tenancy.models import Project


@receiver(reprice_requested)
def reprice_project(
    sender: Any, project_id: int, since: datetime, wait: bool = False, **kwargs: Any
) -> repricing.RepriceResult | None:
    if wait:
        return repricing.reprice_spans(project=Project.objects.get(pk=project_id), since=since)
    transaction.on_commit(lambda: tasks.reprice_project.delay(project_id, since.isoformat()))
    return None
