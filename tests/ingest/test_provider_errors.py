"""Which failed LLM calls were the provider's (429, 5xx, overloaded): what `llm_error_rate`
monitors count, apart from the caller's own failures (a bad request, an unknown model).

The live test runs the real `openai` client, instrumented as users run it, against the fake
provider answering 200, 400, 429 and 500, and exports over OTLP/HTTP to a live AgentLedger;
the ground truth is the status each request got from the provider."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path

import openai
import pytest
from django.test import Client
from django.utils import timezone
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from aggregates import rollups
from aggregates.models import LlmCallRollup, ModelRollup, Period
from budgets.monitors.metrics import Measured, window_values
from budgets.monitors.models import Monitor
from ingest.models import Span
from ingest.provider_errors import is_provider_error
from tests import otlp_payloads
from tests.factories import make_project, make_user
from tests.fakes.llm_server import FakeLLMServer
from tests.ingest.test_live_intake import INSTRUMENTATIONS, Instrumentation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"
# The captured stacks whose agent made a call the provider refused.
SCENARIOS = sorted(
    path.stem
    for path in FIXTURES.glob("*.json")
    if any(r.get("status", 200) != 200 for r in json.loads(path.read_text()).get("llm_requests", []))
)


@pytest.mark.parametrize(
    ("error_type", "message"),
    [
        ("openai.RateLimitError", "Error code: 429 - {'error': {'type': 'rate_limit_exceeded'}}"),
        ("InternalServerError", "Error code: 500 - {'error': {'type': 'server_error'}}"),
        ("", "Error code: 529 - {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}"),
        ("overloaded_error", ""),
        ("503", "503 UNAVAILABLE. {'error': {'code': 503, 'status': 'UNAVAILABLE'}}"),
        ("", "ServerError: 500 INTERNAL. {'error': {'code': 500}}"),
        ("", "429 RESOURCE_EXHAUSTED. {'error': {'code': 429}}"),
        ("", "Error getting response: {'error': 'Error code: 429 - Rate limit reached'}"),
    ],
)
def test_the_providers_failures_are_recognised(error_type: str, message: str) -> None:
    assert is_provider_error(error_type, message)


@pytest.mark.parametrize(
    ("error_type", "message"),
    [
        ("openai.BadRequestError", "Error code: 400 - max_tokens: 512 is more than the model allows"),
        ("400", "400 INVALID_ARGUMENT. {'error': {'code': 400}}"),
        ("AuthenticationError", "Error code: 401 - Incorrect API key provided"),
        ("ValueError", "Unknown city: Atlantis"),
        ("", ""),
    ],
)
def test_the_callers_failures_are_not(error_type: str, message: str) -> None:
    assert not is_provider_error(error_type, message)


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_captured_stacks_count_as_provider_errors_only_what_the_provider_failed(client, scenario: str) -> None:
    """Each stack as captured: its failed calls are the 400s the provider answered to a bad model
    name, written wherever that library writes them; none of them is the provider's."""
    project, key = make_project()
    for path, body, content_type in otlp_payloads.exports(scenario):
        response = client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
    rollups.rollup_until_current()
    requests = otlp_payloads.scenario(scenario)["llm_requests"]
    provider_failures = sum(r["status"] == 429 or r["status"] >= 500 for r in requests)
    rows = ModelRollup.objects.filter(project=project, period=Period.HOUR)
    assert sum(rows.values_list("failed_calls", flat=True)) >= 1
    assert sum(rows.values_list("provider_errors", flat=True)) == provider_failures


MODELS = ["gpt-4o-mini", "gpt-4o-mini-error-429", "gpt-4o-mini-error-500", "gpt-4o-mini-error", "gpt-4o-mini"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS, ids=lambda i: i.name)
def test_a_monitor_counts_429s_and_5xx_not_refused_requests(
    instrumentation: Instrumentation, live_server, client: Client, monkeypatch
):
    for name, value in instrumentation.env.items():
        monkeypatch.setenv(name, value)
    project, key = make_project()
    exporter = OTLPSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {key}"})
    provider = TracerProvider(resource=Resource.create({"service.name": "router"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrumentation.instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    started = timezone.now()
    try:
        with FakeLLMServer() as llm:
            sdk = openai.OpenAI(base_url=f"{llm.url}/v1", api_key="sk-test", max_retries=0)
            tracer = provider.get_tracer("router")
            with tracer.start_as_current_span("invoke_agent router", attributes={"gen_ai.agent.name": "router"}):
                for model in MODELS:
                    with contextlib.suppress(openai.APIStatusError):  # the failures are what is measured
                        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    statuses = Counter(int(r.status) for r in llm.requests)
    provider_failures = sum(n for status, n in statuses.items() if status == 429 or status >= 500)
    assert statuses == {HTTPStatus.OK: 2, 429: 1, 500: 1, 400: 1}
    assert Span.objects.filter(project=project, kind="llm", is_error=True).count() == 3  # read back
    rollups.rollup_until_current()

    calls = LlmCallRollup.objects.filter(project=project, period=Period.MINUTE)
    assert sum(calls.values_list("provider_errors", flat=True)) == provider_failures == 2
    assert sum(calls.values_list("failed_calls", flat=True)) == 3
    by_model = dict(
        ModelRollup.objects.filter(project=project, period=Period.HOUR).values_list("model", "provider_errors")
    )
    assert by_model["gpt-4o-mini-error-429"] == by_model["gpt-4o-mini-error-500"] == 1
    assert by_model["gpt-4o-mini-error"] == 0

    # Where a user reads them: the summary API by model and the Models page.
    summary = client.get(
        "/api/v1/metrics/summary", {"group_by": "model", "since": "7d"}, headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert {r["group"]: r["provider_errors"] for r in summary["rows"]} == by_model
    client.force_login(make_user("ops", organization=project.organization))
    page = client.get(f"/p/{project.organization.slug}/{project.slug}/models/", {"since": "7d"})
    assert {r["group"]: r["provider_errors"] for r in page.context["models"]} == by_model
    assert page.content.decode().count('data-testid="provider-errors"><span class="badge error">1<') == 2

    since, until = started - timedelta(minutes=1), timezone.now() + timedelta(minutes=1)
    rate = Monitor(project=project, name="m", metric="llm_error_rate", critical=Decimal(1))
    failures = Monitor(project=project, name="m", metric="llm_failure_rate", critical=Decimal(1))
    assert window_values(rate, since, until) == {"": Measured(Decimal("0.4"), 5)}
    assert window_values(failures, since, until) == {"": Measured(Decimal("0.6"), 5)}
