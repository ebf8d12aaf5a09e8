"""PostgreSQL crashes and restarts while exporters are sending: they get 503 with Retry-After,
retry, and afterwards every span is stored exactly once with exact run totals.

Runs against a private PostgreSQL cluster (its own data directory and port), so crashing it never
touches the suite's database; the web server is gunicorn with two workers, as in production."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests import processes
from tests.faults import services
from tests.faults.services import INPUT_TOKENS, LLM_CALLS_PER_RUN, OUTPUT_TOKENS, SPANS_PER_RUN

BATCHES, RUNS_PER_BATCH, CLIENTS = 60, 10, 3

pytestmark = pytest.mark.faults


def stored_totals(database_url: str) -> tuple[int, int, int, int, int]:
    with psycopg.connect(database_url) as conn:
        spans, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM ingest_span"
        ).fetchone()
        runs, tokens_in, tokens_out = conn.execute(
            "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) FROM ingest_run"
        ).fetchone()
    return spans, distinct, runs, tokens_in, tokens_out


def rest_call(url: str, key: str, path: str) -> tuple[int, str, str]:
    """(status, Retry-After, detail) of a JSON API call: a POST of one span, or a GET."""
    span = {"trace_id": "rest-1", "span_id": "a", "name": "x", "start_time": "2026-11-01T00:00:00Z"}
    data = json.dumps({"spans": [span]}).encode() if path.endswith("ingest") else None
    request = urllib.request.Request(f"{url}{path}", data=data, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, "", ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After", ""), json.loads(exc.read()).get("detail", "")


def test_a_postgres_crash_during_intake_loses_and_doubles_nothing(tmp_path):
    start_ns = (time.time_ns() // services.SECOND - 3600) * services.SECOND
    bodies = [services.export_body(batch, RUNS_PER_BATCH, start_ns) for batch in range(BATCHES)]
    with services.private_postgres() as postgres:
        env = services.fault_env(postgres.url, "", tmp_path / "var")
        services.manage(env, "migrate", "-v0")
        key = services.new_project_key(env)
        with processes.web_server(env, tmp_path / "gunicorn.log") as url:
            first_third_stored = threading.Event()
            sent = iter(range(BATCHES))
            lock = threading.Lock()

            def client() -> list[services.Delivery]:
                deliveries = []
                while True:
                    with lock:
                        batch = next(sent, None)
                    if batch is None:
                        return deliveries
                    deliveries.append(services.post_until_accepted(url, key, bodies[batch]))
                    if batch >= BATCHES // 3:
                        first_third_stored.set()

            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(client) for _ in range(CLIENTS)]
                assert first_third_stored.wait(120), "intake never got going"
                postgres.stop("immediate")  # a crash: no checkpoint, recovery replays the WAL
                outage_answers = [rest_call(url, key, path) for path in ("/api/v1/ingest", "/api/v1/runs")]
                time.sleep(3)  # clients keep sending into the outage
                postgres.start()
                deliveries = [d for f in futures for d in f.result()]

        statuses = [s for d in deliveries for s in d.statuses]
        assert all(d.delivered for d in deliveries), statuses
        assert set(statuses) <= {200, 503, 0}, f"only success or retryable 503s are allowed, saw {set(statuses)}"
        assert all(r == "5" for d in deliveries for r in d.retry_afters)

        spans, distinct, runs, tokens_in, tokens_out = stored_totals(postgres.url)
        assert (spans, distinct) == (BATCHES * RUNS_PER_BATCH * SPANS_PER_RUN,) * 2
        assert runs == BATCHES * RUNS_PER_BATCH
        assert tokens_in == runs * LLM_CALLS_PER_RUN * INPUT_TOKENS  # no run counted a call twice
        assert tokens_out == runs * LLM_CALLS_PER_RUN * OUTPUT_TOKENS
        assert 503 in statuses, "no request met the outage"
        assert outage_answers == [(503, "5", "database unavailable, retry later")] * 2
