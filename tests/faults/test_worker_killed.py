"""A Celery worker killed (SIGKILL) in the middle of a repair pass (what `rollup --rebuild` and an
upgrade ask for): the hour it was writing rolls back, every hour it had not finished stays marked,
and once a worker runs again (and the dead worker's claim has expired) the rollups equal the runs
exactly. (The delta pass writes a batch in one transaction: a kill rolls it back whole.)"""

from __future__ import annotations

import signal
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from aggregates import rollups
from aggregates import tasks as rollup_tasks
from aggregates.models import Mark, Period, RollupDirty, RunRollup
from ingest.models import Run
from tests import processes
from tests.factories import make_project
from tests.ingest.spans import agent_run, ingest

HOURS = 240  # ten days of hourly buckets: a pass takes long enough to be killed midway

pytestmark = pytest.mark.faults


def rollup_totals(project) -> tuple[int, Decimal, int]:
    """Summed in Python: SQLite's SUM of decimals goes through floats."""
    rows = RunRollup.objects.filter(project=project, period=Period.DAY).values_list("runs", "cost_usd", "input_tokens")
    return sum(r[0] for r in rows), sum((r[1] for r in rows), Decimal(0)), sum(r[2] for r in rows)


def run_totals(project) -> tuple[int, Decimal, int]:
    rows = Run.objects.filter(project=project).values_list("cost_usd", "input_tokens")
    return len(rows), sum((r[0] for r in rows), Decimal(0)), sum(r[1] for r in rows)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_rollup_leaves_nothing_wrong_after_restart(tmp_path):
    project, _ = make_project("Killed worker")
    first_hour = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=HOURS)
    for hour in range(HOURS):
        cost = str(Decimal("0.01") * (hour % 7 + 1))
        ingest(
            project,
            agent_run(first_hour + timedelta(hours=hour), agent=f"bot-{hour % 3}", calls=[("gpt-4o", cost, 1.0)]),
        )
    rollups.rollup_until_current()
    RunRollup.objects.filter(project=project).delete()  # rows lost: every hour is marked for repair
    rollups.mark_dirty(project, Mark.HOUR, [first_hour.replace(minute=0) + timedelta(hours=h) for h in range(HOURS)])
    dirty_hours = RollupDirty.objects.filter(project=project, period=Mark.HOUR).count()
    assert dirty_hours == HOURS

    env = processes.child_env()
    with processes.running(processes.celery_worker_cmd(), env=env, log=tmp_path / "worker-1.log") as worker:
        rollup_tasks.rollup_pending.delay()
        processes.wait_for(
            lambda: RollupDirty.objects.filter(project=project, period=Mark.HOUR).count() < HOURS * 0.8,
            timeout=120,
            what="the worker to be partway through the pass",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    left = RollupDirty.objects.filter(project=project, period=Mark.HOUR).count()
    assert 0 < left < HOURS, "the kill should land mid-pass"
    assert rollup_totals(project) != run_totals(project)  # the pass did not finish
    dead_claims = list(
        RollupDirty.objects.filter(project=project).exclude(claimed_at=None).values_list("pk", flat=True)
    )
    assert len(dead_claims) <= 1, "a worker claims one bucket at a time"

    with processes.running(processes.celery_worker_cmd(), env=env, log=tmp_path / "worker-2.log"):
        rollup_tasks.rollup_pending.delay()  # the next beat tick
        processes.wait_for(
            lambda: not RollupDirty.objects.filter(project=project).exclude(pk__in=dead_claims).exists(),
            timeout=120,
            what="the restarted worker to roll up every bucket but the dead worker's",
        )
        # The bucket the dead worker had claimed waits out its claim (CLAIM_TIMEOUT, longer than
        # any task may run) rather than risk two writers; let that time pass, then the next tick.
        # (Waiting for "nothing unclaimed" instead raced the live worker's own claim of the last bucket.)
        stale = timezone.now() - rollups.CLAIM_TIMEOUT - timedelta(seconds=1)
        RollupDirty.objects.filter(pk__in=dead_claims).update(claimed_at=stale)
        rollup_tasks.rollup_pending.delay()
        processes.wait_for(
            lambda: not RollupDirty.objects.filter(project=project).exists(),
            timeout=120,
            what="every bucket to be rolled up",
        )

    expected = run_totals(project)
    assert expected[0] == HOURS
    assert rollup_totals(project) == expected
    hour_rows = list(RunRollup.objects.filter(project=project, period=Period.HOUR).values_list("bucket", "agent_name", "runs", "cost_usd").order_by("bucket", "agent_name"))  # fmt: skip
    rollups.rebuild(project=project)  # from scratch, for comparison
    assert hour_rows == list(RunRollup.objects.filter(project=project, period=Period.HOUR).values_list("bucket", "agent_name", "runs", "cost_usd").order_by("bucket", "agent_name"))  # fmt: skip
