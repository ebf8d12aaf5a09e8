"""A real Celery worker process runs tasks through the configured broker (embedded or Redis)."""

from __future__ import annotations

import pytest

from ingest import tasks
from ingest.models import WorkerHeartbeat
from tests import processes


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_sent_through_the_broker(tmp_path):
    with processes.running(
        processes.celery_worker_cmd(),
        env=processes.child_env(),
        log=tmp_path / "worker.log",
    ):
        tasks.record_heartbeat.delay("from-test")
        processes.wait_for(
            lambda: WorkerHeartbeat.objects.filter(name="from-test").exists(),
            timeout=60,
            what="the worker to run the task",
        )
