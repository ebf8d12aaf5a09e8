"""Soak: sustained OTLP load at 80% of the measured peak against the production setup, then a count check.

Run by hand (not part of the test suite), loopback only, bounded in time. It recreates the
given PostgreSQL database, starts `manage.py serve` (gunicorn with 2 workers, a Celery worker
with beat on Redis), measures the peak intake for --peak-seconds, then posts realistic agent
traces (bench/ingest.py's generator, fresh ids and timestamps per request) at 80% of that rate
for --minutes. Every minute it prints spans sent / accepted / committed, 429 and 503 answers,
other errors, server and worker memory (RSS) and the aggregation lag: how far behind the commits
the per-minute rollup rows are (they count the runs committed that many seconds earlier; sampled
every 2 s, the minute's p50 / p95 / max), and the hourly rows' lag. At the end it waits for the
rollups to catch up and checks every accepted span is stored, once, and every run counted in the
minute and hour rows.

With --alert-probe it also measures how soon a monitor alerts under that load: a webhook
destination pointing at a stand-in receiver the soak starts, and a monitor "failure rate above 0.5
over 1 minute for probe-agent" (recovery after 1 evaluation), both made through the API with the
ingest key. Every ~90 s one batch of failing probe-agent runs is sent, and the time from its 200
to the receipt of the signed critical alert is recorded; healthy probe-agent runs then resolve the
incident before the next probe. A monitor judges complete minutes, so each delay includes the wait
for the failing runs' minute to end (up to 60 s) plus up to an evaluation interval
(AGENTLEDGER_MONITOR_INTERVAL_SECONDS, 60 s unless --monitor-interval sets it).

    .venv/bin/python bench/soak.py                        # 10 minutes at 80% of peak
    .venv/bin/python bench/soak.py --minutes 1 --peak-seconds 10
    .venv/bin/python bench/soak.py --alert-probe --monitor-interval 10
    options: --database-url postgres://postgres@127.0.0.1:5432/agentledger_soak
             --broker-url redis://127.0.0.1:6379/13 --rate N (spans/s; skips the peak measurement)
             --clients 4 --traces-per-request 20

Exit status 1 when a check fails (errors other than 429/503, spans missing or doubled, rollups
not caught up, a probe without its alert).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import importlib.util
import json
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
assert _spec and _spec.loader
bench_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ingest)


@dataclass
class Counters:
    sent: int = 0  # spans in requests posted
    accepted: int = 0  # spans in requests answered 200 (minus any rejected by partial success)
    rejected: int = 0
    status: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, spans: int, status: int, rejected: int = 0) -> None:
        with self.lock:
            self.sent += spans
            self.status[status] = self.status.get(status, 0) + 1
            if status == 200:
                self.accepted += spans - rejected
                self.rejected += rejected


def build_body(rng: random.Random, traces: int) -> tuple[bytes, int]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(bench_ingest._attr("service.name", "soak-bot"))
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    spans = sum(bench_ingest.build_trace(rng, scope, now) for _ in range(traces))
    return request.SerializeToString(), spans


def post(url: str, key: str, body: bytes) -> tuple[int, int]:
    """(HTTP status, spans rejected by partial success); status 0 for a connection error."""
    request = urllib.request.Request(f"{url}/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.read())
            return response.status, answer.partial_success.rejected_spans
    except urllib.error.HTTPError as exc:
        return exc.code, 0
    except OSError:
        return 0, 0


def drive(url: str, key: str, counters: Counters, clients: int, traces: int, seconds: float, rate: float) -> None:
    """Post from `clients` threads for `seconds`; `rate` spans/s overall (0: as fast as possible).
    A request answered 429/503 is re-sent after a short wait, as an exporter would."""
    stop = time.monotonic() + seconds
    per_client = rate / clients

    def client(seed: int) -> None:
        rng = random.Random(seed)
        next_at = time.monotonic()
        while time.monotonic() < stop:
            body, spans = build_body(rng, traces)
            while True:
                status, rejected = post(url, key, body)
                counters.record(spans, status, rejected)
                if status not in (0, 429, 503) or time.monotonic() > stop + 60:
                    break
                time.sleep(1)
            if rate:
                next_at += spans / per_client
                time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=client, args=(random.randrange(2**32),)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def tree_rss_mb(pid: int) -> dict[str, float]:
    """RSS of every process under `pid`, summed by role (web: gunicorn, worker: celery)."""
    totals = {"web": 0.0, "worker": 0.0}
    stack = [pid]
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
            role = "web" if b"gunicorn" in cmdline else "worker" if b"celery" in cmdline else None
            if role:
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        totals[role] += int(line.split()[1]) / 1024
    return totals


def database_counts(database_url: str) -> tuple[int, int]:
    """(spans, distinct span ids): a scan of every span, so once a minute at most."""
    with psycopg.connect(database_url) as conn:
        spans, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM ingest_span"
        ).fetchone()
    return spans, distinct


def span_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return int(conn.execute("SELECT count(*) FROM ingest_span").fetchone()[0])


def run_counts(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    """(runs committed, runs counted in the minute rows, in the hour rows), from one snapshot."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ingest_run),"
        " (SELECT coalesce(sum(runs), 0) FROM ingest_runrollup WHERE period = 'min'),"
        " (SELECT coalesce(sum(runs), 0) FROM ingest_runrollup WHERE period = 'hour')"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def spread(values: list[float]) -> tuple[float, float, float]:
    """(p50, p95, max), nearest rank; zeros for no values."""
    if not values:
        return 0.0, 0.0, 0.0
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return rank(0.5), rank(0.95), ordered[-1]


class LagMeter:
    """Rollup lag: seconds since the moment when as many runs were committed as the rollups now count
    (one meter per period: the minute rows, kept by the delta pass; the hour rows, by the rollup pass).
    That moment is interpolated between the two samples around it: a lag shorter than the time
    between samples still shows."""

    def __init__(self) -> None:
        self.history: list[tuple[float, int]] = []

    def sample(self, runs: int, rolled: int) -> float:
        now = time.monotonic()
        self.history.append((now, runs))
        if rolled >= runs:
            return 0.0
        if not rolled:
            return now - self.history[0][0]
        at = next(i for i, (_, r) in enumerate(self.history) if r >= rolled)  # the current sample at the latest
        if at == 0:
            return now - self.history[0][0]
        (t0, r0), (t1, r1) = self.history[at - 1], self.history[at]
        reached = t0 + (t1 - t0) * (rolled - r0) / (r1 - r0)
        return now - reached


# --- The alert probe ------------------------------------------------------------------------------

PROBE_AGENT = "probe-agent"
PROBE_SECRET = secrets.token_hex(16)  # signs the probe webhook's bodies
PROBE_EVERY = 90.0  # seconds between two probes (longer when a resolution takes longer)


class AlertReceiver:
    """The user's webhook, stand-in: records when each POST arrived and whether its signature
    (X-AgentLedger-Signature: sha256=<HMAC-SHA256 of the body>) checks out."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.monotonic()
                expected = "sha256=" + hmac.new(PROBE_SECRET.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-AgentLedger-Signature", ""))
                with receiver.lock:
                    receiver.received.append((arrived, json.loads(body)))
                    receiver.bad_signatures += not signed
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, state: str) -> int:
        with self.lock:
            return sum(1 for _, body in self.received if body["state"] == state and body["scope_value"] == PROBE_AGENT)

    def wait(self, state: str, after: int, timeout: float, stop: threading.Event | None = None) -> float | None:
        """When the POST of `state` after the first `after` of them arrived (time.monotonic()); None
        if none came within `timeout` (or `stop` was set first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            with self.lock:
                times = [
                    t for t, body in self.received if body["state"] == state and body["scope_value"] == PROBE_AGENT
                ]
            if len(times) > after:
                return times[after]
            time.sleep(0.1)
        return None


def api_post(url: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def probe_body(rng: random.Random, start: float, *, failed: bool, runs: int = 5) -> tuple[bytes, int]:
    """`runs` probe-agent runs started at `start` (an agent span and one LLM call each), failed or
    not; the body and its span count."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(bench_ingest._attr("service.name", PROBE_AGENT))
    scope = resource_spans.scope_spans.add()
    t = int(start * 1e9)
    for _ in range(runs):
        trace_id, root_id = rng.randbytes(16), rng.randbytes(8)
        root = trace_pb2.Span(trace_id=trace_id, span_id=root_id, name=f"invoke_agent {PROBE_AGENT}", kind=1,
                              start_time_unix_nano=t, end_time_unix_nano=t + 900_000_000)  # fmt: skip
        root.attributes.extend([bench_ingest._attr("gen_ai.operation.name", "invoke_agent"),
                                bench_ingest._attr("gen_ai.agent.name", PROBE_AGENT)])  # fmt: skip
        if failed:
            root.status.code = 2
            root.status.message = "probe: failing on purpose"
        call = trace_pb2.Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id, name="chat gpt-4o-mini",
                              kind=3, start_time_unix_nano=t + 100_000_000, end_time_unix_nano=t + 800_000_000)  # fmt: skip
        call.attributes.extend([bench_ingest._attr("gen_ai.operation.name", "chat"),
                                bench_ingest._attr("gen_ai.provider.name", "openai"),
                                bench_ingest._attr("gen_ai.request.model", "gpt-4o-mini"),
                                bench_ingest._attr("gen_ai.usage.input_tokens", 100),
                                bench_ingest._attr("gen_ai.usage.output_tokens", 20)])  # fmt: skip
        scope.spans.extend([root, call])
    return request.SerializeToString(), 2 * runs


@dataclass
class AlertProbe:
    """Every PROBE_EVERY seconds while the load runs: failing probe-agent runs, the delay until the
    critical alert reaches the webhook, then healthy runs and the wait for the resolution."""

    url: str
    key: str
    interval: float  # the monitors' evaluation interval
    receiver: AlertReceiver = field(default_factory=AlertReceiver)
    delays: list[float] = field(default_factory=list)  # failing runs' 200 -> critical alert received
    after_minute: list[float] = field(default_factory=list)  # the part after the failing minute ended
    missed: int = 0
    accepted_spans: int = 0  # the probe's own, stored beside the load's
    stop: threading.Event = field(default_factory=threading.Event)

    def setup(self) -> None:
        destination = api_post(self.url, self.key, "/api/v1/destinations",
                               {"name": "soak probe", "kind": "webhook", "url": self.receiver.url, "secret": PROBE_SECRET})  # fmt: skip
        api_post(self.url, self.key, "/api/v1/monitors", {
            "name": "soak probe: failure rate", "metric": "failure_rate", "scope": "agent",
            "scope_value": PROBE_AGENT, "window_minutes": 1, "comparison": "above", "critical": "0.5",
            "recovery_evaluations": 1, "destinations": [destination["id"]],
        })  # fmt: skip

    def send(self, body: tuple[bytes, int]) -> float | None:
        """Post until accepted; time.monotonic() of the 200, None if it never came."""
        for _ in range(30):
            status, rejected = post(self.url, self.key, body[0])
            if status == 200:
                self.accepted_spans += body[1] - rejected
                return time.monotonic()
            time.sleep(1)
        return None

    def run(self) -> None:
        rng = random.Random(7)
        # Longest wait for one alert: its minute to end, two evaluation cycles, and some slack.
        timeout = 60 + 2 * self.interval + 30
        number = 0
        while not self.stop.is_set():
            number += 1
            began = time.monotonic()
            criticals, resolutions = self.receiver.count("critical"), self.receiver.count("resolved")
            start = time.time()
            accepted = self.send(probe_body(rng, start, failed=True))
            if accepted is None:
                self.missed += 1
                print(f"  probe {number}: the failing runs were never accepted", flush=True)
            else:
                minute_left = max(0.0, (start // 60 + 1) * 60 - time.time())  # judged once their minute ends
                alerted = self.receiver.wait("critical", criticals, timeout)
                if alerted is None:
                    self.missed += 1
                    print(f"  probe {number}: no critical alert within {timeout:.0f} s", flush=True)
                else:
                    delay = alerted - accepted
                    self.delays.append(delay)
                    self.after_minute.append(max(0.0, delay - minute_left))
                    print(f"  probe {number}: critical alert {delay:.1f} s after the failing runs "
                          f"({minute_left:.0f} s until their minute ended)", flush=True)  # fmt: skip
            self.send(probe_body(rng, time.time(), failed=False))  # healthy again: the incident resolves
            self.receiver.wait("resolved", resolutions, timeout, self.stop)
            self.stop.wait(max(0.0, began + PROBE_EVERY - time.monotonic()))


def recreate_database(database_url: str) -> None:
    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def analyze_each_minute(database_url: str, loader: threading.Thread) -> None:
    """ANALYZE every minute while the load runs, as autovacuum would: on a server with autovacuum
    off the planner keeps its empty-table estimates and walks a project's whole span index for
    a few traces. Prints a warning when autovacuum is off, since that is not a production setup."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "on":
            return
        print("autovacuum is off on this server: the soak runs ANALYZE every minute in its place")
        while loader.is_alive():
            conn.execute("ANALYZE")
            loader.join(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/agentledger_soak")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--peak-seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=0, help="spans/s to sustain (default: 80%% of the peak)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--traces-per-request", type=int, default=20)
    parser.add_argument("--alert-probe", action="store_true",
                        help="every ~90 s, failing probe-agent runs: time until a monitor's webhook alert arrives")  # fmt: skip
    parser.add_argument("--monitor-interval", type=int, default=None,
                        help="AGENTLEDGER_MONITOR_INTERVAL_SECONDS for the server (default: the product's, 60)")  # fmt: skip
    args = parser.parse_args()

    recreate_database(args.database_url)
    var_dir = Path(tempfile.mkdtemp(prefix="agentledger-soak-"))
    port = free_port()
    env = dict(os.environ, AGENTLEDGER_VAR_DIR=str(var_dir), SECRET_KEY="soak-only-secret-key", DEBUG="false",
               DATABASE_URL=args.database_url, CELERY_BROKER_URL=args.broker_url, CACHE_URL=args.broker_url,
               AGENTLEDGER_KEY_RATE_LIMIT="0", LOG_LEVEL="WARNING", AGENTLEDGER_HASHED_STATIC="false")  # fmt: skip
    if args.monitor_interval is not None:
        env["AGENTLEDGER_MONITOR_INTERVAL_SECONDS"] = str(args.monitor_interval)
    log = (var_dir / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            time.sleep(0.5)
        key = (var_dir / "default-ingest-key").read_text().strip()
        print(
            f"serve on {url} (logs: {var_dir / 'serve.log'}); PostgreSQL {args.database_url}; broker {args.broker_url}"
        )

        rate = args.rate
        if not rate:
            peak = Counters()
            started = time.monotonic()
            drive(url, key, peak, args.clients, args.traces_per_request, args.peak_seconds, 0)
            rate = 0.8 * peak.accepted / (time.monotonic() - started)
            print(
                f"peak: {peak.accepted / (time.monotonic() - started):,.0f} spans/s accepted; sustaining {rate:,.0f} spans/s"
            )
        probe = AlertProbe(url, key, float(args.monitor_interval or 60)) if args.alert_probe else None
        if probe:
            probe.setup()
            print(
                f"alert probe: a monitor on {PROBE_AGENT} posting to {probe.receiver.url}, a probe every {PROBE_EVERY:.0f} s"
            )
        counters = Counters()
        base_spans = span_count(args.database_url)  # the peak measurement's
        seconds = args.minutes * 60
        loader = threading.Thread(target=drive, args=(url, key, counters, args.clients, args.traces_per_request, seconds, rate))  # fmt: skip
        prober = threading.Thread(target=probe.run) if probe else None
        started = time.monotonic()
        loader.start()
        if prober:
            prober.start()
        analyzer = threading.Thread(target=analyze_each_minute, args=(args.database_url, loader), daemon=True)
        analyzer.start()
        sampler = psycopg.connect(args.database_url, autocommit=True)
        minute_lag, hour_lag = LagMeter(), LagMeter()
        lags: list[float] = []  # every minute-row sample of the run
        this_minute: list[float] = []
        hour_lags: list[float] = []
        rss: list[dict[str, float]] = []
        print(f"{'min':>4} {'sent':>9} {'accepted':>9} {'committed':>9} {'429':>5} {'503':>5} {'other':>5} {'web MB':>7} "
              f"{'worker MB':>9} {'lag p50/p95/max s':>17} {'hour lag s':>10}")  # fmt: skip
        minute = 0
        while loader.is_alive():
            loader.join(timeout=2)
            runs, in_minutes, in_hours = run_counts(sampler)
            sampled = time.monotonic()
            this_minute.append(minute_lag.sample(runs, in_minutes))
            hour_lags.append(hour_lag.sample(runs, in_hours))
            memory = tree_rss_mb(server.pid)
            rss.append(memory)
            if sampled - started >= (minute + 1) * 60 or (
                not loader.is_alive() and sampled - started >= minute * 60 + 10
            ):
                minute += 1
                spans = span_count(args.database_url) - base_spans
                with counters.lock:
                    status = dict(counters.status)
                other = sum(n for s, n in status.items() if s not in (200, 429, 503))
                p50, p95, top = spread(this_minute)
                lags += this_minute
                this_minute = []
                print(f"{minute:>4} {counters.sent:>9,} {counters.accepted:>9,} {spans:>9,} {status.get(429, 0):>5} "
                      f"{status.get(503, 0):>5} {other:>5} {memory['web']:>7.0f} {memory['worker']:>9.0f} "
                      f"{f'{p50:.1f}/{p95:.1f}/{top:.1f}':>17} {hour_lags[-1]:>10.0f}", flush=True)  # fmt: skip
        lags += this_minute  # the last few seconds, when they made no line of their own
        elapsed = time.monotonic() - started
        print(f"sustained {counters.accepted / elapsed:,.0f} spans/s accepted over {elapsed / 60:.1f} min")
        if probe and prober:
            probe.stop.set()  # a probe waiting for its critical alert still gets it
            prober.join()

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            runs, in_minutes, in_hours = run_counts(sampler)
            spans = span_count(args.database_url) - base_spans
            if (
                in_minutes >= runs
                and in_hours >= runs
                and spans >= counters.accepted + (probe.accepted_spans if probe else 0)
            ):
                break
            time.sleep(5)
        caught_up = time.monotonic() - (deadline - 300)
        sampler.close()
        spans, distinct = database_counts(args.database_url)
        spans, distinct = spans - base_spans, distinct - base_spans
        other = {s: n for s, n in counters.status.items() if s not in (200, 429, 503)}
        web = [m["web"] for m in rss]
        worker = [m["worker"] for m in rss]
        third = max(1, len(rss) // 3)
        p50, p95, top = spread(lags)
        print(f"aggregation lag (minute rows) during the run: p50 {p50:.1f} s, p95 {p95:.1f} s, max {top:.1f} s; "
              f"hour rows: median {spread(hour_lags)[0]:.0f} s, max {max(hour_lags, default=0):.0f} s; "
              f"caught up {caught_up:.0f} s after the load stopped")  # fmt: skip
        print(f"web RSS: first third mean {sum(web[:third]) / third:.0f} MB, last third {sum(web[-third:]) / third:.0f} MB, "
              f"max {max(web):.0f} MB; worker RSS: {sum(worker[:third]) / third:.0f} → {sum(worker[-third:]) / third:.0f} MB, max {max(worker):.0f} MB")  # fmt: skip
        print(f"count check: accepted {counters.accepted:,}, stored {spans:,} ({distinct:,} distinct), "
              f"runs {runs:,}, in minute rows {in_minutes:,}, in hour rows {in_hours:,}; "
              f"answers {dict(sorted(counters.status.items()))}")  # fmt: skip
        probe_spans = probe.accepted_spans if probe else 0
        checks = {
            "no errors other than 429/503": not other,
            "every accepted span stored once": spans == distinct == counters.accepted + probe_spans,
            "rollups caught up (minute and hour rows count every run)": in_minutes == runs == in_hours,
        }
        if probe:
            p50, p95, top = spread(probe.delays)
            a50, a95, atop = spread(probe.after_minute)
            print(f"alert probe: {len(probe.delays)} alerts, {probe.missed} missed, {probe.receiver.bad_signatures} badly signed; "
                  f"failing spans → critical alert p50 {p50:.1f} s, p95 {p95:.1f} s, max {top:.1f} s "
                  f"(after their minute ended: p50 {a50:.1f} s, p95 {a95:.1f} s, max {atop:.1f} s)")  # fmt: skip
            checks["every alert probe alerted, signed"] = (
                bool(probe.delays) and not probe.missed and not probe.receiver.bad_signatures
            )
        for name, passed in checks.items():
            print(f"  {'ok  ' if passed else 'FAIL'} {name}")
        ok = all(checks.values())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return 0 if ok else 1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
