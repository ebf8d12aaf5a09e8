"""Servers that intake tests send to over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import processes

LIMIT = 256 * 1024  # the test servers' AGENTLEDGER_MAX_REQUEST_BYTES


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    """The production web server (as `make run` serves it) on the test database; its base URL."""
    env = processes.child_env(AGENTLEDGER_MAX_REQUEST_BYTES=str(LIMIT), AGENTLEDGER_KEY_RATE_LIMIT="0")
    with processes.web_server(env, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log", workers=1) as url:
        yield url


@pytest.fixture(scope="module")
def node_exporter() -> Path:
    """tests/node with its packages installed (skips, or fails under AGENTLEDGER_REQUIRE_NODE)."""
    return processes.node_exporter_dir()
