"""Node.js agent stacks exporting to a live gunicorn server with OpenTelemetry JS's OTLP exporter,
against the fake LLM provider: each run shows what the provider billed (ground truth from the
provider's records, priced by the price book), counted once per real call.

Vercel AI SDK 7 with @ai-sdk/otel (tests/node/vercel_agent.mjs). What it sends, and its traps:
- a root `invoke_agent {model}` span per generateText call, whose name carries the *model*, not
  the agent (the agent name is `gen_ai.agent.name`, from `telemetry.functionId`), and whose
  `gen_ai.usage.*` repeats the sum of its calls;
- an `agent_step` span per step, each holding one `chat {model}` call and its `execute_tool` spans;
- a failed tool is an `execute_tool` span in ERROR with an exception event; a failed call is a
  `chat` span in ERROR with `http.response.status_code`;
- cache reads as `gen_ai.usage.cache_read.input_tokens`; reasoning tokens are not exported (they
  stay inside the output count, which is what is billed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus

import pytest

from ingest.models import Run, Span
from pricing import book as pricing
from tests import processes
from tests.factories import make_project
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.django_db(transaction=True)


def billed(usage: dict) -> Decimal:
    """The price book's cost of one answered call, from the usage the provider returned."""
    price = pricing.price_call(
        provider="openai",
        model="gpt-4o-mini",
        usage=pricing.Usage(
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            cache_read_tokens=usage["prompt_tokens_details"]["cached_tokens"],
            cache_write_tokens=None,
            reasoning_tokens=usage["completion_tokens_details"]["reasoning_tokens"],
        ),
        at=datetime.now(UTC),
    )
    assert price.cost is not None
    return price.cost


def test_vercel_ai_sdk_runs_show_what_the_provider_billed(gunicorn, node_exporter):
    project, key = make_project()
    with FakeLLMServer() as llm:
        processes.run_node(node_exporter / "vercel_agent.mjs", {
            "LLM_BASE_URL": llm.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{gunicorn}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {key}",
        })  # fmt: skip
    answered = [r.usage for r in llm.requests if r.status == HTTPStatus.OK and r.usage]
    assert len(answered) == 4 and len(llm.requests) == 5

    runs = list(Run.objects.filter(project=project).order_by("start_time"))
    assert [r.agent_name for r in runs] == ["weather-bot-vercel"] * 3, "the functionId, never the model"
    assert [(r.status, r.llm_calls, r.failed_llm_calls, r.tool_calls, r.tool_errors) for r in runs] == [
        ("ok", 2, 0, 1, 0),
        ("ok", 2, 0, 1, 1),  # the model answered the tool's error: recovered
        ("error", 1, 1, 0, 0),
    ]
    for run, usages in zip(runs[:2], (answered[:2], answered[2:]), strict=True):
        assert run.input_tokens == sum(u["prompt_tokens"] for u in usages)
        assert run.output_tokens == sum(u["completion_tokens"] for u in usages)
        assert run.cache_read_tokens == sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
        assert run.cost_usd == sum(billed(u) for u in usages)
    assert runs[2].input_tokens == 0 and runs[2].cost_usd is None

    tools = Span.objects.filter(project=project, kind="tool").order_by("start_time")
    assert [(t.tool_name, t.is_error) for t in tools] == [("get_weather", False), ("get_weather", True)]
