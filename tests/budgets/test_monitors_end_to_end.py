"""A monitor end to end, as a user runs it: the production web server (gunicorn), a Celery worker
with its beat (`make run`'s command), and a webhook of the user's that checks our signature. The
project's key sets up the webhook and a monitor "run failure rate above 5% over 1 minute, for each
agent" through the API; OTLP traces then show support-bot's runs failing while billing-bot's stay
fine. One signed "critical" POST arrives for support-bot, none for billing-bot; once support-bot's
runs are healthy again, one "resolved" POST follows; nothing is ever delivered twice.

Timing. A monitor judges complete minutes: a window of one minute ends at the current minute, and
a run counts in the minute it started. So the failing runs are judged by the first evaluation
after their minute ends, up to 60 s after they arrive, and the resolution by the first after the
healthy runs' minute ends, up to 60 s more. The beat judges (and delivers) every
AGENTLEDGER_MONITOR_INTERVAL_SECONDS, 5 s here instead of 60: the alert must arrive within two of
those cycles after the failing minute's end. Each wait is bounded at 150 s (a minute, two cycles,
and room for a slow machine); the test takes about two minutes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests import processes
from tests.fakes.receiver import FakeReceiver, fake_receiver
from tests.faults.services import new_project_key, post_until_accepted

pytestmark = pytest.mark.faults  # real processes, minutes long: `-m faults` picks it, `make test` runs it

INTERVAL = 5  # seconds between two evaluations (and two outbox passes)
WAIT = 150  # at most a minute for the runs' minute to end, two cycles, and room for a slow machine
SECRET = "whsec-e2e-7d1f42"
FAILING, HEALTHY = "support-bot", "billing-bot"


# --- A user's side: the API, an OTLP exporter, a webhook that checks the signature --------------


def api(url: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return dict(json.loads(response.read()))


def _attr(key: str, value: str | int) -> common_pb2.KeyValue:
    any_value = (
        common_pb2.AnyValue(int_value=value) if isinstance(value, int) else common_pb2.AnyValue(string_value=value)
    )
    return common_pb2.KeyValue(key=key, value=any_value)


def runs_body(agent: str, *, ok: int, failed: int, start: datetime) -> bytes:
    """An OTLP/protobuf export of `ok + failed` runs of `agent`, each an agent span with one LLM
    call, all started at `start` (so they count in one minute); a failed run's agent span has
    status ERROR. Fresh ids each call."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_attr("service.name", agent))
    scope = resource_spans.scope_spans.add()
    t = int(start.timestamp() * 1e9)
    for n in range(ok + failed):
        trace_id, root_id = os.urandom(16), os.urandom(8)
        root = trace_pb2.Span(trace_id=trace_id, span_id=root_id, name=f"invoke_agent {agent}",
                              start_time_unix_nano=t, end_time_unix_nano=t + 900_000_000)  # fmt: skip
        root.attributes.extend([_attr("gen_ai.operation.name", "invoke_agent"), _attr("gen_ai.agent.name", agent)])
        if n >= ok:
            root.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            root.status.message = "upstream tool timed out"
        llm = trace_pb2.Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root_id, name="chat gpt-4o-mini",
                             start_time_unix_nano=t + 100_000_000, end_time_unix_nano=t + 800_000_000)  # fmt: skip
        llm.attributes.extend([
            _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai"),
            _attr("gen_ai.request.model", "gpt-4o-mini"),
            _attr("gen_ai.usage.input_tokens", 120), _attr("gen_ai.usage.output_tokens", 30),
        ])  # fmt: skip
        scope.spans.extend([root, llm])
    return request.SerializeToString()


def send(url: str, key: str, body: bytes) -> float:
    """Post like an exporter; the time.monotonic() of the 200."""
    delivery = post_until_accepted(url, key, body, give_up_after=60)
    assert delivery.delivered and delivery.statuses[-1] == 200, delivery.statuses
    return time.monotonic()


def signature_ok(body: bytes, header: str | None) -> bool:
    """What the receiver does (docs/budgets-and-alerts.md): HMAC-SHA256 of the raw body."""
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def posts(hook: FakeReceiver) -> list[dict[str, Any]]:
    """Every POST received so far, its signature checked."""
    out = []
    for received in list(hook.received):
        assert signature_ok(received.body, received.headers.get("X-AgentLedger-Signature")), received.headers
        out.append(json.loads(received.body))
    return out


def wait_for_post(hook: FakeReceiver, state: str, scope_value: str, *, timeout: float) -> float:
    """Poll the receiver every 0.1 s until a POST of `state` for `scope_value` is there; the time.monotonic() it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p["state"] == state and p["scope_value"] == scope_value for p in posts(hook)):
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"no {state} POST for {scope_value} within {timeout} s; received {posts(hook)}")


def minute_end(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def worker_with_beat_cmd(schedule: Path) -> list[str]:
    """`manage.py serve`'s worker: prefork, two processes, the beat inside."""
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--loglevel", "INFO",
            "--concurrency", "2", "--schedule", str(schedule), "--without-mingle", "--without-gossip"]  # fmt: skip


# --- The test -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failing_agent_alerts_once_through_a_signed_webhook_then_resolves_once(tmp_path):
    env = processes.child_env(AGENTLEDGER_MONITOR_INTERVAL_SECONDS=str(INTERVAL), AGENTLEDGER_KEY_RATE_LIMIT="0")
    key = new_project_key(env, "e2e monitors")
    with (
        fake_receiver() as hook,
        processes.web_server(env, tmp_path / "web.log") as url,
        processes.running(worker_with_beat_cmd(tmp_path / "celerybeat-schedule"), env=env, log=tmp_path / "worker.log"),
    ):
        destination = api(url, key, "/api/v1/destinations", {"name": "on-call hook", "kind": "webhook", "url": hook.url(), "secret": SECRET})  # fmt: skip
        assert destination["has_secret"]
        monitor = api(url, key, "/api/v1/monitors", {
            "name": "Failure rate, every agent", "metric": "failure_rate", "scope": "agent", "scope_value": "",
            "window_minutes": 1, "comparison": "above", "critical": "0.05", "recovery_evaluations": 1,
            "destinations": [destination["id"]],
        })  # fmt: skip
        assert monitor["state"] == "ok"

        # Both agents healthy, then support-bot's runs start failing (6 of its 16 runs this minute).
        started = datetime.now(UTC)
        send(url, key, runs_body(HEALTHY, ok=10, failed=0, start=started))
        send(url, key, runs_body(FAILING, ok=10, failed=0, start=started))
        arrived = send(url, key, runs_body(FAILING, ok=0, failed=6, start=started))
        judged_after = seconds_until(minute_end(started))  # the failing minute ends this much later
        seen = wait_for_post(hook, "critical", FAILING, timeout=WAIT)
        delay = seen - arrived
        print(f"\nspans → critical alert: {delay:.1f} s ({judged_after:.1f} s until their minute ended, "
              f"then {delay - judged_after:.1f} s; evaluation every {INTERVAL} s)")  # fmt: skip
        assert delay <= judged_after + 2 * INTERVAL + 5, "the alert took more than two evaluation cycles"
        critical = next(p for p in posts(hook) if p["state"] == "critical")
        assert critical["source"] == "monitor" and critical["monitor"] == "Failure rate, every agent"
        assert critical["metric"] == "failure_rate" and critical["window_minutes"] == 1
        assert critical["observed"] == "0.375" and critical["threshold"] == "0.05"  # 6 failed of 16

        # support-bot healthy again: its next judged minute is inside the threshold, which resolves it.
        recovered = datetime.now(UTC)
        healthy_arrived = send(url, key, runs_body(FAILING, ok=10, failed=0, start=recovered))
        resolved_after = seconds_until(minute_end(recovered))
        resolved_seen = wait_for_post(hook, "resolved", FAILING, timeout=WAIT)
        print(f"healthy spans → resolved: {resolved_seen - healthy_arrived:.1f} s ({resolved_after:.1f} s until their minute ended)")  # fmt: skip
        assert resolved_seen - healthy_arrived <= resolved_after + 2 * INTERVAL + 5

        time.sleep(3 * INTERVAL)  # three more evaluations and outbox passes: nothing more to send
        received = posts(hook)

    assert [(p["state"], p["scope_value"]) for p in received] == [("critical", FAILING), ("resolved", FAILING)]
    assert not [p for p in received if p["scope_value"] == HEALTHY]
    per_incident = Counter((p["dedup_key"], p["state"]) for p in received)
    assert set(per_incident.values()) == {1}, per_incident  # nothing delivered twice
    assert len({p["dedup_key"] for p in received}) == 1  # one incident: the resolution closes what opened
