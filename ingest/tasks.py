from __future__ import annotations

import socket

from celery import shared_task
from celery.signals import worker_ready

from ingest import services


@shared_task
def record_heartbeat(name: str = "") -> None:
    services.heartbeat_record(name or socket.gethostname())


@worker_ready.connect
def _announce_worker(**kwargs: object) -> None:
    # Goes through the broker like any task, so /readyz shows a worker that really runs tasks.
    record_heartbeat.delay()
