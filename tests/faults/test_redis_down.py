"""Redis (broker and cache) down: intake still commits every span (rate-limit counters fail open,
nothing on the intake path needs the broker), /readyz says what is wrong, and once Redis is back
a worker's next pass rolls up everything that arrived meanwhile."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from aggregates import tasks as rollup_tasks
from aggregates.models import Period, RollupDirty, RunRollup, TraceDirty
from config.celery import app as celery_app
from ingest.models import Run, Span
from tests import processes
from tests.faults import services
from tests.faults.services import INPUT_TOKENS, LLM_CALLS_PER_RUN, SPANS_PER_RUN

pytestmark = pytest.mark.faults


def readiness(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.django_db(transaction=True)
def test_intake_commits_with_redis_down_and_rollups_catch_up_when_it_returns(tmp_path):
    with services.private_redis() as redis:
        redis.start()
        env = services.fault_env(processes.test_database_url(), redis.url, tmp_path / "var")
        env.update(CACHE_URL=redis.url, AGENTLEDGER_KEY_RATE_LIMIT="100000")  # counters live in Redis
        key = services.new_project_key(env, "redis down")
        start_ns = (time.time_ns() // services.SECOND - 7200) * services.SECOND
        with processes.web_server(env, tmp_path / "gunicorn.log") as url:
            redis.stop()
            deliveries = [
                services.post_until_accepted(url, key, services.export_body(batch, 5, start_ns), give_up_after=30)
                for batch in range(4)
            ]
            assert [d.statuses for d in deliveries] == [[200]] * 4  # accepted first time, no retry needed
            status, body = readiness(url)
            assert status == 503 and "broker unreachable" in json.dumps(body)

        assert Span.objects.count() == 4 * 5 * SPANS_PER_RUN
        assert TraceDirty.objects.count() == 20  # every run marked for the delta pass
        assert not RunRollup.objects.exists()

        redis.start()
        with processes.running(processes.celery_worker_cmd(), env=env, log=tmp_path / "worker.log"):
            with celery_app.connection_for_write(redis.url) as connection:
                rollup_tasks.rollup_pending.apply_async(connection=connection)  # the beat's next tick
            processes.wait_for(
                lambda: (
                    not RollupDirty.objects.exists()
                    and not TraceDirty.objects.exists()
                    and RunRollup.objects.filter(period=Period.DAY).exists()
                ),
                timeout=90,
                what="the worker to roll up what arrived while Redis was down",
            )

    rows = RunRollup.objects.filter(period=Period.DAY).values_list("runs", "input_tokens")
    assert sum(r[0] for r in rows) == Run.objects.count() == 20
    assert sum(r[1] for r in rows) == 20 * LLM_CALLS_PER_RUN * INPUT_TOKENS
