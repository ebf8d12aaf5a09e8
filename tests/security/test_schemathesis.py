"""Every operation of our OpenAPI schema (/api/schema/), called by schemathesis with generated
valid and invalid requests through the Django WSGI app (no server, no network) with a valid
project key: none answers 500. Examples per operation are bounded so this runs in CI; raise
SCHEMATHESIS_EXAMPLES for a deeper run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from tests.factories import make_project
from tests.ingest.spans import agent_run, ingest

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))


@pytest.fixture
def project_key(db: None, settings: Any) -> Iterator[str]:
    """A key of a project with two runs. The WSGI app's end-of-request signal would close the
    test's database connection mid-transaction; Django's test client detaches it the same way."""
    settings.AGENTLEDGER_KEY_RATE_LIMIT = 10**9  # thousands of calls within a minute
    project, key = make_project()
    start = datetime.now(UTC) - timedelta(hours=3)
    ingest(project, agent_run(start, agent="planner", tools=[("search", True, 0.5)]))
    ingest(project, agent_run(start + timedelta(hours=1), agent="writer", failed=True))
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield key
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500(case: schemathesis.Case, project_key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {project_key}"})
    case.validate_response(response, checks=[not_a_server_error])
