"""Intake benchmark: spans committed per second over OTLP/HTTP, server CPU per span, and memory.

Run by hand (not part of the test suite). It starts the production web server (gunicorn) on
loopback against a fresh database, stores a warm-up of 40 requests, posts pre-built
OTLP/protobuf exports of realistic agent traces from 1, 4 and 16 concurrent clients, and counts
the spans committed in the database.

    .venv/bin/python bench/ingest.py                                  # SQLite under a temp dir
    .venv/bin/python bench/ingest.py --database-url postgres://postgres@127.0.0.1:5432/agentledger_bench
    options: --seconds 20 --workers 2 --traces-per-request 50 --concurrency 1,4,16 --warmup 40
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ingest import native  # noqa: E402

WORDS = [
    "the",
    "agent",
    "asked",
    "for",
    "weather",
    "in",
    "paris",
    "and",
    "then",
    "booked",
    "a",
    "table",
    "at",
    "eight",
]


def _attr(key: str, value: object) -> common_pb2.KeyValue:
    kv = common_pb2.KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = str(value)
    return kv


_TEXT = " ".join(random.Random(1).choice(WORDS) for _ in range(2000))


def _text(rng: random.Random, low: int, high: int) -> str:
    start = rng.randint(0, 500)
    return _TEXT[start : start + rng.randint(low, high)]


def build_trace(rng: random.Random, scope: trace_pb2.ScopeSpans, now_ns: int) -> int:
    """1 agent span, 3-10 LLM calls with 200-2000 character prompts, 1-5 tool calls, ~5% errors."""
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    t = now_ns
    children: list[trace_pb2.Span] = []
    for i in range(rng.randint(3, 10)):
        prompt = _text(rng, 200, 2000)
        failed = rng.random() < 0.05
        span = trace_pb2.Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id,
                              name="chat gpt-4o-mini", kind=3, start_time_unix_nano=t, end_time_unix_nano=t + 800_000_000)  # fmt: skip
        span.attributes.extend([
            _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai"),
            _attr("gen_ai.request.model", "gpt-4o-mini"), _attr("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            _attr("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):x}"),
            _attr("gen_ai.usage.input_tokens", len(prompt) // 4 + 50), _attr("gen_ai.usage.output_tokens", rng.randint(10, 300)),
            _attr("gen_ai.usage.cache_read.input_tokens", rng.choice([0, 0, 128])),
            _attr("gen_ai.input.messages", f'[{{"role":"user","parts":[{{"type":"text","content":"{prompt}"}}]}}]'),
            _attr("gen_ai.output.messages", f'[{{"role":"assistant","parts":[{{"type":"text","content":"{_text(rng, 50, 400)}"}}],"finish_reason":"stop"}}]'),
        ])  # fmt: skip
        if failed:
            span.status.code = 2
            span.status.message = "rate limited"
        children.append(span)
        t += 900_000_000
        if i < 5 and rng.random() < 0.5:
            tool = trace_pb2.Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id,
                                  name="execute_tool search", kind=1, start_time_unix_nano=t, end_time_unix_nano=t + 200_000_000)  # fmt: skip
            tool.attributes.extend([_attr("gen_ai.operation.name", "execute_tool"), _attr("gen_ai.tool.name", "search"),
                                    _attr("gen_ai.tool.call.arguments", '{"q": "weather paris"}')])  # fmt: skip
            if rng.random() < 0.05:
                tool.status.code = 2
            children.append(tool)
            t += 250_000_000
    root = trace_pb2.Span(trace_id=trace_id, span_id=root_id, name="invoke_agent bench-bot", kind=1,
                          start_time_unix_nano=now_ns, end_time_unix_nano=t)  # fmt: skip
    root.attributes.extend(
        [
            _attr("gen_ai.operation.name", "invoke_agent"),
            _attr("gen_ai.agent.name", "bench-bot"),
        ]
    )
    scope.spans.extend([*children, root])
    return len(children) + 1


def build_requests(count: int, traces_per_request: int, seed: int) -> tuple[list[bytes], int]:
    rng = random.Random(seed)
    bodies, spans = [], 0
    now = time.time_ns()
    for _ in range(count):
        request = trace_service_pb2.ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(_attr("service.name", "bench-bot"))
        scope = rs.scope_spans.add()
        scope.scope.name = "bench"
        for _ in range(traces_per_request):
            spans += build_trace(rng, scope, now)
        bodies.append(request.SerializeToString())
    return bodies, spans


def count_spans(database_url: str, var_dir: Path) -> int:
    if database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(database_url) as conn:
            return int(conn.execute("SELECT count(*) FROM ingest_span").fetchone()[0])
    with sqlite3.connect(var_dir / "agentledger.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM ingest_span").fetchone()[0])


def analyze(database_url: str) -> None:
    """Refresh PostgreSQL's planner statistics before a level, as autovacuum would have by then on
    a default server (this machine's may run without it). Run on an empty table, it would leave
    statistics of no rows, with which the planner scans a project's every span for each
    request's stored-span lookup: hence the warm-up before the first level."""
    if database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")


def tree_pids(pid: int) -> list[int]:
    """A process and its children (the gunicorn master and workers)."""
    with contextlib.suppress(OSError):
        return [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    return [pid]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of the server's processes."""
    total = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree_cpu_seconds(pid: int) -> float:
    """CPU time the server's processes have used so far."""
    total = 0.0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run_level(url: str, key: str, bodies: list[bytes], concurrency: int, seconds: float) -> tuple[int, int]:
    """Post bodies from `concurrency` threads for `seconds`; returns (requests ok, requests failed)."""
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "fail": 0}
    lock = threading.Lock()
    next_body = iter(range(10**9))

    def worker() -> None:
        while time.monotonic() < stop:
            with lock:
                i = next(next_body)
            if i >= len(bodies):
                return
            req = urllib.request.Request(f"{url}/v1/traces", data=bodies[i], method="POST",
                                         headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"})  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=60) as response:
                    ok = response.status == 200
            except OSError:
                ok = False
            with lock:
                counts["ok" if ok else "fail"] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["ok"], counts["fail"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--warmup", type=int, default=40, help="requests stored before the first level")
    parser.add_argument(
        "--requests", type=int, default=1200, help="distinct requests built up front (enough for all three levels)"
    )
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="agentledger-bench-"))
    # One key at full speed: the rate limit per key is off, so this measures the intake, not the limit.
    env = dict(os.environ, AGENTLEDGER_VAR_DIR=str(var_dir), SECRET_KEY="bench-only-secret-key", DEBUG="false",
               DATABASE_URL=args.database_url, CELERY_BROKER_URL="", LOG_LEVEL="WARNING",
               AGENTLEDGER_KEY_RATE_LIMIT="0")  # fmt: skip
    if args.database_url.startswith("postgres"):
        import psycopg

        base, _, name = args.database_url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    out = subprocess.run(
        [*manage, "create_project", "bench"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    key = out.stdout.strip().splitlines()[-1]

    print("building payloads…", flush=True)
    bodies, spans_built = build_requests(args.requests, args.traces_per_request, seed=7)
    spans_per_request = spans_built / len(bodies)
    print(
        f"{len(bodies)} requests, {spans_per_request:.0f} spans each, {sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB each"
    )

    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", str(args.workers), "--log-level", "warning"], env=env, cwd=ROOT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        peak = 0.0
        sampling = True

        def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, tree_rss_mb(server.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        db = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
        normalizer = "compiled (mypyc)" if native.is_compiled() else "plain Python: run `make install` to compile it"
        print(f"\n{db}, gunicorn --workers {args.workers}, {args.seconds:.0f} s per level, normalizer {normalizer}")
        print(f"{'clients':>8} {'requests':>9} {'failed':>7} {'spans committed/s':>18} {'server CPU µs/span':>19}")
        # A deployment has spans already: the first level does not start from an empty table.
        run_level(url, key, bodies[: args.warmup], 2, args.seconds)
        offset = args.warmup
        for level in [int(c) for c in args.concurrency.split(",")]:
            analyze(args.database_url)
            before = count_spans(args.database_url, var_dir)
            start, cpu = time.monotonic(), tree_cpu_seconds(server.pid)
            ok, failed = run_level(url, key, bodies[offset:], level, args.seconds)
            elapsed = time.monotonic() - start
            committed = count_spans(args.database_url, var_dir) - before
            cpu_per_span = (tree_cpu_seconds(server.pid) - cpu) / max(committed, 1) * 1e6
            offset += ok + failed
            print(f"{level:>8} {ok:>9} {failed:>7} {committed / elapsed:>18,.0f} {cpu_per_span:>19.0f}")
        sampling = False
        sampler.join()
        print(f"peak server RSS (master + workers): {peak:.0f} MB")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
