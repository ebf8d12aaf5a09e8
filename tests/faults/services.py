"""Outside services a fault test can break on purpose: a private PostgreSQL cluster and a private
Redis server (each on its own port, so stopping them never touches the suite's own database or
broker), the production web server (gunicorn) in front of them, and an OTLP client that retries
the way OpenTelemetry exporters do."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests import processes

SECOND = 1_000_000_000
INPUT_TOKENS, OUTPUT_TOKENS = 120, 30  # per LLM call
LLM_CALLS_PER_RUN = 2
SPANS_PER_RUN = 1 + LLM_CALLS_PER_RUN + 1  # agent, LLM calls, a tool


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: there, run it as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster: `stop(mode="immediate")` is a crash, `start()` its recovery."""

    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/agentledger"

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"), *args]
        subprocess.run(_as_postgres_user(cmd), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._ctl("-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-m", mode, "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="agentledger-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster = PrivatePostgres(bin_dir, data, processes.free_port())
    cluster.start()
    try:
        subprocess.run(
            _as_postgres_user([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "agentledger"]),
            check=True,
            capture_output=True,
        )  # fmt: skip
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.wait_for(self.answers, timeout=20, what="redis-server to start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(processes.free_port())
    try:
        yield server
    finally:
        server.stop()


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=processes.ROOT, env=env,
                          check=True, capture_output=True, text=True, timeout=300)  # fmt: skip
    return done.stdout


def new_project_key(env: dict[str, str], name: str = "faults") -> str:
    """Create a project in the database `env` points at; returns its raw ingest key."""
    return manage(env, "create_project", name).strip().splitlines()[-1]


def fault_env(database_url: str, broker_url: str, var_dir: Path) -> dict[str, str]:
    """A child environment on the given database and broker, with the per-key rate limit off."""
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, CELERY_BROKER_URL=broker_url, AGENTLEDGER_VAR_DIR=str(var_dir),
               AGENTLEDGER_KEY_RATE_LIMIT="0", DATABASE_CONN_MAX_AGE="60")  # fmt: skip
    return env


# --- Traffic ---------------------------------------------------------------------------------


def _attr(key: str, value: str | int) -> common_pb2.KeyValue:
    any_value = (
        common_pb2.AnyValue(int_value=value) if isinstance(value, int) else common_pb2.AnyValue(string_value=value)
    )
    return common_pb2.KeyValue(key=key, value=any_value)


def export_body(batch: int, runs: int, start_ns: int, agent: str = "fault-bot") -> bytes:
    """An OTLP/protobuf export of `runs` complete agent runs with known token counts; trace and
    span ids derive from (batch, run), so a re-sent body is the same spans again."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_attr("service.name", agent))
    scope = resource_spans.scope_spans.add()
    for run in range(runs):
        trace_id = (batch + 1).to_bytes(8, "big") + run.to_bytes(8, "big")  # never all zeros (invalid)
        root_id = (batch * 1000 + run).to_bytes(6, "big") + b"\x00\x01"
        t = start_ns + run * SECOND
        root = trace_pb2.Span(trace_id=trace_id, span_id=root_id, name=f"invoke_agent {agent}",
                              start_time_unix_nano=t, end_time_unix_nano=t + 5 * SECOND)  # fmt: skip
        root.attributes.extend([_attr("gen_ai.operation.name", "invoke_agent"), _attr("gen_ai.agent.name", agent)])
        spans = [root]
        for call in range(LLM_CALLS_PER_RUN):
            llm = trace_pb2.Span(trace_id=trace_id, span_id=root_id[:6] + bytes([1, call + 2]), parent_span_id=root_id,
                                 name="chat gpt-4o-mini", start_time_unix_nano=t + SECOND, end_time_unix_nano=t + 2 * SECOND)  # fmt: skip
            llm.attributes.extend([
                _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai"),
                _attr("gen_ai.request.model", "gpt-4o-mini"),
                _attr("gen_ai.usage.input_tokens", INPUT_TOKENS), _attr("gen_ai.usage.output_tokens", OUTPUT_TOKENS),
            ])  # fmt: skip
            spans.append(llm)
        tool = trace_pb2.Span(trace_id=trace_id, span_id=root_id[:6] + b"\x02\x01", parent_span_id=root_id,
                              name="execute_tool search", start_time_unix_nano=t + 3 * SECOND, end_time_unix_nano=t + 4 * SECOND)  # fmt: skip
        tool.attributes.extend([_attr("gen_ai.operation.name", "execute_tool"), _attr("gen_ai.tool.name", "search")])
        spans.append(tool)
        scope.spans.extend(spans)
    return request.SerializeToString()


@dataclass
class Delivery:
    """What an exporter saw: every status per attempt, and whether the batch finally landed."""

    statuses: list[int] = field(default_factory=list)
    retry_afters: list[str] = field(default_factory=list)
    delivered: bool = False


def post_until_accepted(url: str, key: str, body: bytes, *, give_up_after: float = 90) -> Delivery:
    """Post an export like an OTel exporter: retry 429/502/503/504 and connection errors, waiting
    Retry-After when given (capped at 1 s to keep the test short), until a 2xx or `give_up_after`."""
    delivery = Delivery()
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{url}/v1/traces", data=body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"})  # fmt: skip
        wait = 0.3
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                delivery.statuses.append(response.status)
                delivery.delivered = True
                return delivery
        except urllib.error.HTTPError as exc:
            delivery.statuses.append(exc.code)
            if exc.code not in (429, 502, 503, 504):
                return delivery
            retry_after = exc.headers.get("Retry-After", "")
            delivery.retry_afters.append(retry_after)
            wait = min(float(retry_after or 0.3), 1.0)
        except OSError:
            delivery.statuses.append(0)  # connection refused or reset
        time.sleep(wait)
    return delivery
