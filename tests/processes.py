"""Real child processes for tests: a Celery worker, the `make run` server, pointed at the test database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)


def test_database_url() -> str:
    """DATABASE_URL for the database this test run uses (pytest-django's test database)."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def running(cmd: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process, yield it, and stop it (SIGTERM, then kill) however the test ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def celery_worker_cmd() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
    ]


@contextmanager
def web_server(env: dict[str, str], log: Path, workers: int = 2) -> Iterator[str]:
    """The production web server on a free port; yields its base URL once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--graceful-timeout", "5"]  # fmt: skip
    with running(cmd, env=env, log=log):
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), what="gunicorn")
        yield url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


NODE_DIR = ROOT / "tests" / "node"


def node_exporter_dir() -> Path:
    """tests/node, with the Node.js packages `make install` put there (OpenTelemetry JS and a Node 22
    runtime from the npm registry). Skips the calling test where they are missing, unless
    AGENTLEDGER_REQUIRE_NODE is set, as `.ci/run` does: then their absence fails."""
    if not (NODE_DIR / "node_modules" / ".bin" / "node").exists():
        reason = "Node.js packages missing in tests/node (make install runs npm ci there when npm exists)"
        if os.environ.get("AGENTLEDGER_REQUIRE_NODE"):
            raise AssertionError(reason)
        pytest.skip(reason)
    return NODE_DIR


def run_node(script: Path, env: dict[str, str], *, timeout: float = 60) -> list[Any]:
    """Run a Node.js program of tests/node; the JSON lines it printed on stdout."""
    done = subprocess.run([str(NODE_DIR / "node_modules" / ".bin" / "node"), str(script)], cwd=NODE_DIR,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
