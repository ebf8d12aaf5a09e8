"""`make run`'s command brings up the web server and a worker that runs tasks, and Ctrl-C stops both."""

from __future__ import annotations

import json
import signal
import sys
import urllib.request

import pytest

from tenancy import auth
from tests import processes


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


@pytest.mark.django_db(transaction=True)
def test_serve_runs_web_and_worker_and_stops_on_ctrl_c(tmp_path):
    port = processes.free_port()
    env = processes.child_env(AGENTLEDGER_VAR_DIR=str(tmp_path), AGENTLEDGER_ADMIN_PASSWORD="s3cret-for-tests")
    log = tmp_path / "serve.log"
    cmd = [
        sys.executable,
        "manage.py",
        "serve",
        "--port",
        str(port),
        "--web-workers",
        "1",
    ]
    with processes.running(cmd, env=env, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        processes.wait_for(lambda: _get(f"{base}/healthz")[0] == 200, timeout=60, what="/healthz")
        processes.wait_for(
            lambda: _get(f"{base}/readyz")[1].get("worker_last_seen") is not None,
            timeout=60,
            what="the worker to run its first task",
        )
        output = log.read_text()
        raw_key = next(line.split(": ")[-1] for line in output.splitlines() if "ingest key" in line)
        assert auth.api_key_for_raw_key(raw_key) is not None
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={base}" in output
        assert f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {raw_key}"' in output
        assert (tmp_path / "static").is_dir()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert _get(f"{base}/healthz")[0] == 0  # nothing answers any more
