"""Runs to judge and evaluators to judge them, for the evaluator tests: runs go in through the
REST intake like an agent's, with a chat input, a text output and one tool call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from scores.evaluators import services as evaluator_services
from scores.models import Evaluator
from tenancy.models import Project

RUBRIC = """Did the agent answer the customer's question using what its tools returned?

Customer:
{{ input }}

Tool calls:
{{ tool_calls }}

Agent's answer:
{{ output }}

Run {{ run.trace_id }} of {{ run.agent_name }}."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_spans(
    trace: str,
    *,
    agent: str = "support-bot",
    failed: bool = False,
    cost: str = "0.02",
    question: str = "Where is my order 42?",
    answer: str = "Order 42 shipped yesterday and arrives on Friday.",
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """A finished run: root agent span, one LLM call with a reported cost, one tool call."""
    end = end or timezone.now()
    start = end - timedelta(seconds=5)
    return [
        {"trace_id": trace, "span_id": f"{trace}-root", "name": agent, "kind": "agent", "agent_name": agent,
         "status": "error" if failed else "ok", "error_message": "tool crashed" if failed else "",
         "input": [{"role": "user", "content": question}], "output": answer,
         "start_time": iso(start), "end_time": iso(end)},
        {"trace_id": trace, "span_id": f"{trace}-llm", "parent_span_id": f"{trace}-root", "name": "chat",
         "kind": "llm", "provider": "openai", "model": "gpt-4o", "input_tokens": 300, "output_tokens": 40,
         "cost_usd": cost, "start_time": iso(start + timedelta(seconds=1)), "end_time": iso(start + timedelta(seconds=2))},
        {"trace_id": trace, "span_id": f"{trace}-tool", "parent_span_id": f"{trace}-root", "name": "lookup_order",
         "kind": "tool", "tool_name": "lookup_order", "input": {"order_id": 42},
         "output": {"status": "shipped", "eta": "Friday"},
         "start_time": iso(start + timedelta(seconds=2)), "end_time": iso(start + timedelta(seconds=3))},
    ]  # fmt: skip


def post_spans(key: str, spans: list[dict[str, Any]]) -> list[str]:
    """Send spans through /api/v1/ingest; returns the stored trace ids."""
    trace_ids: list[str] = []
    for start in range(0, len(spans), 3000):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
            "/api/v1/ingest", {"spans": spans[start : start + 3000]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        trace_ids += response.json()["trace_ids"]
    return sorted(set(trace_ids))


def make_evaluator(project: Project, **fields: Any) -> Evaluator:
    values: dict[str, Any] = {
        "name": "grounded",
        "rubric": RUBRIC,
        "judge_model": "gpt-4o-mini",
        "api_key": "sk-test-judge-key-0001",
    }
    values.update(fields)
    return evaluator_services.evaluator_save(Evaluator(project=project, **values))
