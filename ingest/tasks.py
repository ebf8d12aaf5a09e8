from __future__ import annotations

import socket
from datetime import datetime

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError

from ingest import repricing, retention, services
from tenancy.models import Project


@shared_task
def record_heartbeat(name: str = "") -> None:
    services.heartbeat_record(name or socket.gethostname())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reprice_project(project_id: int, since: str = "") -> None:
    project = Project.objects.get(pk=project_id)
    repricing.reprice_spans(project=project, since=datetime.fromisoformat(since) if since else None)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def enforce_retention() -> None:
    retention.retention_enforce()


@worker_ready.connect
def _announce_worker(**kwargs: object) -> None:
    # Goes through the broker like any task, so /readyz shows a worker that really runs tasks.
    record_heartbeat.delay()
