"""Budgets through the background machinery: the rollup task hands over to evaluation, and a real
Celery worker takes HTTP intake all the way to one Slack message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.test import Client, TestCase
from django.utils import timezone

from aggregates import tasks as rollup_tasks
from budgets import tasks as budget_tasks
from budgets.models import Alert, Budget, Destination
from ingest import tasks
from ingest.models import WorkerHeartbeat
from tests import processes
from tests.factories import make_project
from tests.fakes.slack_server import fake_slack


class RollupHandsOverTests(TestCase):
    def test_each_rollup_pass_is_followed_by_a_budget_evaluation(self):
        with mock.patch.object(budget_tasks.evaluate_budgets, "delay") as delay:
            rollup_tasks.rollup_pending()
        delay.assert_called_once_with()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_takes_spans_to_exactly_one_slack_warning(tmp_path):
    project, key = make_project("Budgeted")
    start = timezone.now() - timedelta(seconds=30)
    spans = [
        {"trace_id": "run-1", "span_id": "root", "name": "bot", "kind": "agent", "agent_name": "support-bot",
         "start_time": iso(start), "end_time": iso(start + timedelta(seconds=9))},
        {"trace_id": "run-1", "span_id": "call", "parent_span_id": "root", "name": "chat", "kind": "llm",
         "provider": "openai", "model": "gpt-test", "input_tokens": 5, "output_tokens": 5, "cost_usd": "8.25",
         "start_time": iso(start + timedelta(seconds=1)), "end_time": iso(start + timedelta(seconds=4))},
    ]  # fmt: skip
    with fake_slack() as slack:
        destination = Destination.objects.create(project=project, name="#ops", url=slack.url())
        budget = Budget.objects.create(
            project=project, name="Bot daily", scope="agent", scope_value="support-bot", period="day", amount_usd=10
        )
        budget.destinations.add(destination)
        response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
            "/api/v1/ingest", {"spans": spans}, content_type="application/json"
        )
        assert response.status_code == 200, response.content

        with processes.running(processes.celery_worker_cmd(), env=processes.child_env(), log=tmp_path / "worker.log"):
            rollup_tasks.rollup_pending.delay()
            processes.wait_for(
                lambda: Alert.objects.filter(budget=budget, sent_at__isnull=False).exists(),
                timeout=90,
                what="the worker to roll up, evaluate and deliver the warning",
            )
            rollup_tasks.rollup_pending.delay()  # a second pass evaluates again: nothing new is sent
            budget_tasks.deliver_alerts.delay()
            # The solo worker runs tasks in order; the evaluation the pass enqueues runs before "after".
            for barrier in ("before", "after"):
                tasks.record_heartbeat.delay(f"budgets-{barrier}")
                processes.wait_for(
                    lambda b=barrier: WorkerHeartbeat.objects.filter(name=f"budgets-{b}").exists(),
                    timeout=60,
                    what=f"the {barrier} barrier",
                )

    [alert] = Alert.objects.filter(budget=budget)
    assert (alert.threshold, alert.spend) == (80, Decimal("8.25"))
    assert len(slack.received) == 1
    assert slack.received[0].json["blocks"][0]["text"]["text"] == "Budget warning: Bot daily"
