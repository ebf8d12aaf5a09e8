"""Soak: sustained OTLP load at 80% of the measured peak against the production setup, then a count check.

Run by hand (not part of the test suite), loopback only, bounded in time. It recreates the
given PostgreSQL database, starts `manage.py serve` (gunicorn with 2 workers, a Celery worker
with beat on Redis), measures the peak intake for --peak-seconds, then posts realistic agent
traces (bench/ingest.py's generator, fresh ids and timestamps per request) at 80% of that rate
for --minutes. Every minute it prints spans sent / accepted / committed, 429 and 503 answers,
other errors, server and worker memory (RSS) and the rollup lag: how far behind the commits the
hourly rollups are (the rollups equal the runs committed that many seconds earlier). At the
end it waits for the rollups to catch up and checks every accepted span is stored, once.

    .venv/bin/python bench/soak.py                        # 10 minutes at 80% of peak
    .venv/bin/python bench/soak.py --minutes 1 --peak-seconds 10
    options: --database-url postgres://postgres@127.0.0.1:5432/agentledger_soak
             --broker-url redis://127.0.0.1:6379/13 --rate N (spans/s; skips the peak measurement)
             --clients 4 --traces-per-request 20

Exit status 1 when a check fails (errors other than 429/503, spans missing or doubled, rollups
not caught up).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

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


def database_counts(database_url: str) -> tuple[int, int, int, int]:
    """(spans, distinct span ids, runs, runs counted in hourly rollups)."""
    with psycopg.connect(database_url) as conn:
        spans, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM ingest_span"
        ).fetchone()
        runs = conn.execute("SELECT count(*) FROM ingest_run").fetchone()[0]
        rolled = conn.execute("SELECT coalesce(sum(runs), 0) FROM ingest_runrollup WHERE period = 'hour'").fetchone()[0]
    return spans, distinct, runs, rolled


class LagMeter:
    """Rollup lag: seconds since the moment when as many runs were committed as the rollups now count."""

    def __init__(self) -> None:
        self.history: list[tuple[float, int]] = []

    def sample(self, runs: int, rolled: int) -> float:
        now = time.monotonic()
        self.history.append((now, runs))
        if rolled >= runs:
            return 0.0
        reached = next((t for t, r in self.history if r >= rolled), now)
        return now - reached if rolled else now - self.history[0][0]


def recreate_database(database_url: str) -> None:
    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/agentledger_soak")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--peak-seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=0, help="spans/s to sustain (default: 80%% of the peak)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--traces-per-request", type=int, default=20)
    args = parser.parse_args()

    recreate_database(args.database_url)
    var_dir = Path(tempfile.mkdtemp(prefix="agentledger-soak-"))
    port = free_port()
    env = dict(os.environ, AGENTLEDGER_VAR_DIR=str(var_dir), SECRET_KEY="soak-only-secret-key", DEBUG="false",
               DATABASE_URL=args.database_url, CELERY_BROKER_URL=args.broker_url, CACHE_URL=args.broker_url,
               AGENTLEDGER_KEY_RATE_LIMIT="0", LOG_LEVEL="WARNING", AGENTLEDGER_HASHED_STATIC="false")  # fmt: skip
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
        counters = Counters()
        base_spans = database_counts(args.database_url)[0]  # the peak measurement's
        seconds = args.minutes * 60
        loader = threading.Thread(target=drive, args=(url, key, counters, args.clients, args.traces_per_request, seconds, rate))  # fmt: skip
        started = time.monotonic()
        loader.start()
        lag, lags, rss = LagMeter(), [], []
        print(f"{'min':>4} {'sent':>9} {'accepted':>9} {'committed':>9} {'429':>5} {'503':>5} {'other':>5} {'web MB':>7} {'worker MB':>9} {'lag s':>6}")  # fmt: skip
        minute = 0
        while loader.is_alive():
            loader.join(timeout=10)
            spans, _, runs, rolled = database_counts(args.database_url)
            spans -= base_spans
            lags.append(lag.sample(runs, rolled))
            memory = tree_rss_mb(server.pid)
            rss.append(memory)
            if time.monotonic() - started >= (minute + 1) * 60 or not loader.is_alive():
                minute += 1
                with counters.lock:
                    status = dict(counters.status)
                other = sum(n for s, n in status.items() if s not in (200, 429, 503))
                print(f"{minute:>4} {counters.sent:>9,} {counters.accepted:>9,} {spans:>9,} {status.get(429, 0):>5} "
                      f"{status.get(503, 0):>5} {other:>5} {memory['web']:>7.0f} {memory['worker']:>9.0f} {lags[-1]:>6.0f}", flush=True)  # fmt: skip
        elapsed = time.monotonic() - started
        print(f"sustained {counters.accepted / elapsed:,.0f} spans/s accepted over {elapsed / 60:.1f} min")

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            spans, distinct, runs, rolled = database_counts(args.database_url)
            spans, distinct = spans - base_spans, distinct - base_spans
            if rolled >= runs and spans >= counters.accepted:
                break
            time.sleep(5)
        caught_up = time.monotonic() - (deadline - 300)
        other = {s: n for s, n in counters.status.items() if s not in (200, 429, 503)}
        web = [m["web"] for m in rss]
        worker = [m["worker"] for m in rss]
        third = max(1, len(rss) // 3)
        print(f"rollup lag during the run: median {sorted(lags)[len(lags) // 2]:.0f} s, max {max(lags):.0f} s; "
              f"caught up {caught_up:.0f} s after the load stopped")  # fmt: skip
        print(f"web RSS: first third mean {sum(web[:third]) / third:.0f} MB, last third {sum(web[-third:]) / third:.0f} MB, "
              f"max {max(web):.0f} MB; worker RSS: {sum(worker[:third]) / third:.0f} → {sum(worker[-third:]) / third:.0f} MB, max {max(worker):.0f} MB")  # fmt: skip
        print(f"count check: accepted {counters.accepted:,}, stored {spans:,} ({distinct:,} distinct), "
              f"runs {runs:,}, runs in rollups {rolled:,}; answers {dict(sorted(counters.status.items()))}")  # fmt: skip
        checks = {
            "no errors other than 429/503": not other,
            "every accepted span stored once": spans == distinct == counters.accepted,
            "rollups caught up": rolled == runs,
        }
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
