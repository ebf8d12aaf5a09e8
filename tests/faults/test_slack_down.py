"""Slack unreachable for an hour: the alert waits in the outbox, retried with backoff (not every
minute), and when Slack is back a real worker delivers it exactly once, however many beat ticks
follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from budgets import evaluation
from budgets import tasks as budget_tasks
from budgets.delivery import outbox
from budgets.models import Alert, Destination
from ingest import tasks as ingest_tasks
from ingest.models import WorkerHeartbeat
from tests import processes
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project
from tests.fakes.slack_server import fake_slack

CROSSED_AT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

pytestmark = pytest.mark.faults


def drain(worker_log_name: str) -> None:
    """Wait until the worker has handled every task sent before this one (solo pool: in order)."""
    ingest_tasks.record_heartbeat.delay(worker_log_name)
    processes.wait_for(lambda: WorkerHeartbeat.objects.filter(name=worker_log_name).exists(), what="the worker")


@pytest.mark.django_db(transaction=True)
def test_an_alert_raised_while_slack_is_down_for_an_hour_arrives_once_when_it_returns(tmp_path):
    project, _ = make_project()
    port = processes.free_port()  # nothing listens there yet: Slack is down
    destination = Destination.objects.create(project=project, name="#ops", url=f"http://127.0.0.1:{port}/services/T0/B0/x")  # fmt: skip
    budget = make_budget(project)
    budget.destinations.add(destination)
    spend(project, CROSSED_AT - timedelta(hours=3), "8.5")
    evaluation.evaluate_budgets(project, CROSSED_AT)
    alert = Alert.objects.get(budget=budget)

    for minute in range(60):  # an hour of beat ticks while Slack cannot be reached
        assert outbox.deliver_due_alerts(CROSSED_AT + timedelta(minutes=minute)) == 0
    alert.refresh_from_db()
    assert alert.sent_at is None
    assert "could not reach Slack" in alert.last_error
    assert 4 <= alert.attempts <= 8  # backed off, not sixty posts
    destination.refresh_from_db()
    assert destination.enabled  # an outage is not a reason to give up on the destination

    with fake_slack(port) as slack, processes.running(processes.celery_worker_cmd(), env=processes.child_env(), log=tmp_path / "worker.log"):  # fmt: skip
        for _ in range(3):  # beat ticks from now on: the first delivers, the others find nothing due
            budget_tasks.deliver_alerts.delay()
        drain("after-three-ticks")
        Alert.objects.filter(pk=alert.pk).update(next_attempt_at=CROSSED_AT)  # even if it looked due again
        budget_tasks.deliver_alerts.delay()
        drain("after-a-fourth-tick")

    assert len(slack.received) == 1
    assert slack.received[0].json["text"].startswith("Budget warning: Support bot daily")
    alert.refresh_from_db()
    assert alert.sent_at is not None and alert.last_error == ""
