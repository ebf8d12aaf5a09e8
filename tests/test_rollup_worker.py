"""The whole path with a real Celery worker: HTTP intake → rollup task through the broker →
the summary API answers what one agent cost yesterday, in the project's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from aggregates import tasks as rollup_tasks
from aggregates.models import RollupDirty, RunRollup
from tests import processes
from tests.factories import make_project

LA = ZoneInfo("America/Los_Angeles")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_spans(trace: str, agent: str, start: datetime, cost: str) -> list[dict[str, object]]:
    return [
        {"trace_id": trace, "span_id": "root", "name": agent, "kind": "agent", "agent_name": agent,
         "start_time": iso(start), "end_time": iso(start + timedelta(seconds=9))},
        {"trace_id": trace, "span_id": "call", "parent_span_id": "root", "name": "chat", "kind": "llm",
         "provider": "openai", "model": "gpt-test", "input_tokens": 500, "output_tokens": 50, "cost_usd": cost,
         "start_time": iso(start + timedelta(seconds=1)), "end_time": iso(start + timedelta(seconds=4))},
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_rolls_up_http_intake_and_the_summary_answers_yesterdays_cost(tmp_path):
    project, key = make_project("Night shift", timezone_name="America/Los_Angeles")
    today = timezone.now().astimezone(LA).date()
    yesterday_start = datetime.combine(today - timedelta(days=1), time.min, tzinfo=LA)
    spans = [
        *run_spans("run-1", "night-owl", yesterday_start + timedelta(minutes=5), "0.125"),
        *run_spans("run-2", "night-owl", yesterday_start + timedelta(hours=23, minutes=50), "0.250"),  # 23:50 LA
        *run_spans("run-3", "night-owl", yesterday_start - timedelta(minutes=10), "4"),  # the day before
        *run_spans("run-4", "day-bird", yesterday_start + timedelta(hours=12), "1"),
    ]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post("/api/v1/ingest", {"spans": spans}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert RollupDirty.objects.filter(project=project).exists()

    with processes.running(processes.celery_worker_cmd(), env=processes.child_env(), log=tmp_path / "worker.log"):
        rollup_tasks.rollup_pending.delay()
        processes.wait_for(
            lambda: (
                not RollupDirty.objects.filter(project=project).exists()
                and RunRollup.objects.filter(project=project, period="day").exists()
            ),
            timeout=90,
            what="the worker to roll up the dirty hours and days",
        )

    response = client.get("/api/v1/metrics/summary", {"group_by": "agent", "agent": "night-owl", "since": "yesterday"})
    assert response.status_code == 200, response.content
    rows = response.json()["rows"]
    assert [(r["group"], r["runs"], r["cost_usd"]) for r in rows] == [("night-owl", 2, "0.375")]
