"""Stacks captured with their real libraries (tests/fixtures/otlp/capture.py) replayed through the
OTLP endpoint: runs, errors, LLM and tool calls, tokens and cost as the fake provider billed them.

Ground truth is the provider's side (each sidecar's `llm_requests`: what was asked and the usage
returned), priced by the price book, never the spans. Where a library does not send a number the
provider returned, the run cannot know it either; each such gap is named in LIBRARY_GAPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from ingest.models import Run, Span
from pricing import book as pricing
from tests import otlp_payloads
from tests.factories import make_project

TOTALS = ("llm_calls", "failed_llm_calls", "tool_calls", "tool_errors", "input_tokens", "output_tokens",
          "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")  # fmt: skip


@dataclass(frozen=True)
class Stack:
    scenario: str
    agent: str
    provider: str
    traces: int
    gaps: dict[str, Any]  # totals the library does not send, and what the run shows instead
    embeddings: bool = False


STACKS = [
    # The agent's name appears nowhere but in output text: the root's class name is what is known.
    Stack("llamaindex_openinference", "FunctionAgent.run", "openai", 3, {}),
    Stack("google_adk", "weather_bot", "google", 3, {}),
    # ADK 1.x telemetry: `call_llm` wraps `generate_content` with the same usage (counted once).
    Stack("google_adk_legacy", "weather_bot", "google", 3, {}),
    # Automatic function calling: one span per turn carries only its last request's usage.
    Stack("google_genai_otel", "weather-bot", "google", 1, {"llm_calls": 3, "per_request": [1, 3, 4]}),
    # Strands exports no reasoning count (it stays inside the output, which is what is billed).
    Stack("strands", "weather-bot", "openai", 3, {"reasoning_tokens": 0}),
    Stack("langfuse_openai", "weather-bot", "openai", 1, {}, embeddings=True),
    Stack("langfuse_openai_responses", "weather-bot", "openai", 1, {}),
    # The guardrail's verdict is only in the SDK's error on its parent span.
    Stack("openai_agents_guardrail", "weather-bot", "openai", 2, {}),
]  # fmt: skip


def provider_usage(request: dict[str, Any]) -> pricing.Usage:
    """The usage the provider returned, in AgentLedger's terms (input with cache, output with reasoning)."""
    usage = request["usage"]
    if "promptTokenCount" in usage:  # Gemini: thoughts are billed as output but reported apart
        thoughts = usage.get("thoughtsTokenCount", 0)
        return pricing.Usage(usage["promptTokenCount"], usage["candidatesTokenCount"] + thoughts,
                             usage.get("cachedContentTokenCount", 0), 0, thoughts)  # fmt: skip
    if "prompt_tokens" in usage:  # OpenAI chat
        return pricing.Usage(usage["prompt_tokens"], usage["completion_tokens"],
                             usage["prompt_tokens_details"]["cached_tokens"], 0,
                             usage["completion_tokens_details"]["reasoning_tokens"])  # fmt: skip
    return pricing.Usage(usage["input_tokens"], usage["output_tokens"],  # OpenAI Responses
                         usage["input_tokens_details"]["cached_tokens"], 0,
                         usage["output_tokens_details"]["reasoning_tokens"])  # fmt: skip


def billed(stack: Stack, requests: list[dict[str, Any]]) -> tuple[dict[str, int], Decimal]:
    """Totals and cost of the calls the provider answered, priced by the price book."""
    totals = dict.fromkeys(TOTALS, 0)
    cost = Decimal(0)
    for request in requests:
        totals["llm_calls"] += 1
        if request["status"] != 200:
            totals["failed_llm_calls"] += 1
            continue
        usage = provider_usage(request)
        totals["input_tokens"] += usage.input_tokens or 0
        totals["output_tokens"] += usage.output_tokens or 0
        totals["cache_read_tokens"] += usage.cache_read_tokens or 0
        totals["reasoning_tokens"] += usage.reasoning_tokens or 0
        price = pricing.price_call(provider=stack.provider, model=request["model"], usage=usage, at=datetime.now(UTC))
        assert price.cost is not None, request["model"]
        cost += price.cost
    return totals, cost


@pytest.mark.django_db
@pytest.mark.parametrize("stack", STACKS, ids=lambda s: s.scenario)
def test_captured_stack_shows_what_the_provider_billed(client, stack):
    project, key = make_project()
    for path, body, content_type in otlp_payloads.exports(stack.scenario):
        response = client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
    sidecar = otlp_payloads.scenario(stack.scenario)
    chat = [r for r in sidecar["llm_requests"] if "embeddings" not in r["path"]]
    if "per_request" in stack.gaps:  # the requests whose usage the library's spans carry
        chat = [r for i, r in enumerate(chat) if i in stack.gaps["per_request"] or r["status"] != 200]
    expected, cost = billed(stack, chat)
    expected.update(tool_calls=sidecar["expected"]["tool_calls"], tool_errors=sidecar["expected"]["tool_errors"])
    expected.update({k: v for k, v in stack.gaps.items() if k in TOTALS})

    runs = Run.objects.filter(project=project)
    assert runs.count() == stack.traces
    assert set(runs.values_list("agent_name", flat=True)) == {stack.agent}
    assert sum(r.status == "error" for r in runs) <= 1, "only the run whose call failed without recovery"
    sums = runs.aggregate(**{f: Sum(f) for f in TOTALS})
    got = {f: sums[f] or 0 for f in TOTALS}
    if stack.embeddings:  # the embedding's input tokens count too
        embedding_input = sum(r["usage"]["prompt_tokens"] for r in sidecar["llm_requests"] if "embeddings" in r["path"])
        expected["input_tokens"] += embedding_input
        cost = None  # priced per embedding model; checked on the calls below
    assert got == expected
    if cost is not None:
        assert runs.aggregate(cost=Sum("cost_usd"))["cost"] == cost
    trips = runs.aggregate(trips=Sum("guardrail_trips"))["trips"]
    assert trips == sidecar["expected"].get("guardrail_trips", 0)
    priced = Span.objects.filter(project=project, counts_usage=True, kind="llm")
    assert not priced.filter(cost_usd=None).exists(), "every billed call is priced"
