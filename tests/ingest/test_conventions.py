"""The span normalizer against docs/conventions.md: kind rules, priority lists, pitfalls.

Spans are built by hand with the real key names and realistic values. Nothing is stubbed: the
normalizer runs compiled (mypyc), where a module's functions call each other directly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.conventions import genai, kinds, normalize, usage
from ingest.conventions.span_view import SpanView
from ingest.records import RawSpan, SpanEvent, SpanFields, SpanKind


def make_span(
    name: str = "span",
    attributes: dict[str, Any] | None = None,
    *,
    scope: str = "",
    scope_version: str = "",
    status: int = 0,
    status_message: str = "",
    events: list[SpanEvent] | None = None,
    resource: dict[str, Any] | None = None,
    kind: int = 1,
) -> RawSpan:
    return RawSpan(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id="",
        name=name,
        kind=kind,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_001_000_000_000,
        attributes=dict(attributes or {}),
        events=events or [],
        status_code=status,
        status_message=status_message,
        resource=resource or {},
        scope_name=scope,
        scope_version=scope_version,
    )


def norm(name: str = "span", attributes: dict[str, Any] | None = None, **kwargs: Any) -> SpanFields:
    return normalize(make_span(name, attributes, **kwargs))


# ---------------------------------------------------------------------------------------
# docs/conventions.md, "Span kinds": rules 0-12
# ---------------------------------------------------------------------------------------


@dataclass
class KindCase:
    id: str
    attributes: dict[str, Any]
    kind: str
    convention: str
    name: str = "span"
    scope: str = ""
    scope_version: str = ""


KIND_CASES = [
    # Rule 0: Langfuse Python SDK ≤3.3 sent generations as "span".
    KindCase(
        "r0-langfuse-sdk-quirk",
        {
            "langfuse.observation.type": "span",
            "langfuse.observation.model.name": "gpt-4o",
        },
        SpanKind.LLM,
        "langfuse",
        scope="langfuse-sdk",
        scope_version="3.2.1",
    ),
    KindCase(
        "r0-quirk-usage-details",
        {
            "langfuse.observation.type": "span",
            "langfuse.observation.usage_details": '{"input": 3}',
        },
        SpanKind.LLM,
        "langfuse",
        scope="langfuse-sdk",
        scope_version="2.60.3",
    ),
    KindCase(
        "r0-not-after-3.3",
        {
            "langfuse.observation.type": "span",
            "langfuse.observation.model.name": "gpt-4o",
        },
        SpanKind.SPAN,
        "langfuse",
        scope="langfuse-sdk",
        scope_version="3.4.0",
    ),
    KindCase(
        "r0-not-other-scope",
        {
            "langfuse.observation.type": "span",
            "langfuse.observation.model.name": "gpt-4o",
        },
        SpanKind.SPAN,
        "langfuse",
        scope="my-app",
    ),
    # Rule 1: langfuse.observation.type.
    *[
        KindCase(f"r1-{value}", {"langfuse.observation.type": value}, kind, "langfuse")
        for value, kind in [
            ("generation", SpanKind.LLM),
            ("embedding", SpanKind.EMBEDDING),
            ("agent", SpanKind.AGENT),
            ("tool", SpanKind.TOOL),
            ("chain", SpanKind.CHAIN),
            ("retriever", SpanKind.RETRIEVER),
            ("guardrail", SpanKind.GUARDRAIL),
            ("evaluator", SpanKind.EVALUATOR),
            ("event", SpanKind.SPAN),
            ("span", SpanKind.SPAN),
            ("GENERATION", SpanKind.LLM),
        ]
    ],
    # Rule 2: openinference.span.kind, any case; UNKNOWN continues.
    *[
        KindCase(f"r2-{value}", {"openinference.span.kind": value}, kind, "openinference")
        for value, kind in [
            ("LLM", SpanKind.LLM),
            ("llm", SpanKind.LLM),
            ("EMBEDDING", SpanKind.EMBEDDING),
            ("CHAIN", SpanKind.CHAIN),
            ("RETRIEVER", SpanKind.RETRIEVER),
            ("RERANKER", SpanKind.RERANKER),
            ("TOOL", SpanKind.TOOL),
            ("AGENT", SpanKind.AGENT),
            ("Agent", SpanKind.AGENT),
            ("GUARDRAIL", SpanKind.GUARDRAIL),
            ("EVALUATOR", SpanKind.EVALUATOR),
            ("PROMPT", SpanKind.CHAIN),
        ]
    ],
    KindCase(
        "r2-unknown-continues",
        {"openinference.span.kind": "UNKNOWN", "gen_ai.operation.name": "chat"},
        SpanKind.LLM,
        "otel_genai",
    ),
    # Rule 3: gen_ai.operation.name, SC values then custom ones.
    *[
        KindCase(f"r3-{value}", {"gen_ai.operation.name": value}, kind, "otel_genai")
        for value, kind in [
            ("chat", SpanKind.LLM),
            ("text_completion", SpanKind.LLM),
            ("generate_content", SpanKind.LLM),
            ("completion", SpanKind.LLM),
            ("generate", SpanKind.LLM),
            ("embeddings", SpanKind.EMBEDDING),
            ("execute_tool", SpanKind.TOOL),
            ("invoke_agent", SpanKind.AGENT),
            ("create_agent", SpanKind.AGENT),
            ("invoke_workflow", SpanKind.CHAIN),
            ("retrieval", SpanKind.RETRIEVER),
            ("handoff", SpanKind.HANDOFF),
            ("execute_task", SpanKind.CHAIN),
            ("llm_request", SpanKind.LLM),
            ("vector_db_retrieve", SpanKind.RETRIEVER),
            ("agent_step", SpanKind.AGENT),
            ("Chat", SpanKind.LLM),
        ]
    ],
    KindCase(
        "r3-unknown-value-continues",
        {"gen_ai.operation.name": "frobnicate"},
        SpanKind.SPAN,
        "unknown",
    ),
    # Rule 4: traceloop.span.kind, then llm.request.type (TL†).
    *[
        KindCase(f"r4-{value}", {"traceloop.span.kind": value}, kind, "traceloop")
        for value, kind in [
            ("workflow", SpanKind.CHAIN),
            ("task", SpanKind.CHAIN),
            ("agent", SpanKind.AGENT),
            ("tool", SpanKind.TOOL),
            ("handoff", SpanKind.HANDOFF),
        ]
    ],
    KindCase(
        "r4-unknown-continues",
        {"traceloop.span.kind": "unknown"},
        SpanKind.SPAN,
        "unknown",
    ),
    *[
        KindCase(f"r4-request-type-{value}", {"llm.request.type": value}, kind, "traceloop")
        for value, kind in [
            ("chat", SpanKind.LLM),
            ("completion", SpanKind.LLM),
            ("embedding", SpanKind.EMBEDDING),
            ("rerank", SpanKind.RERANKER),
        ]
    ],
    # Rule 5: Genkit subtype.
    *[
        KindCase(
            f"r5-{value}",
            {"genkit:metadata:subtype": value},
            kind,
            "genkit",
            scope="genkit-tracer",
        )
        for value, kind in [
            ("model", SpanKind.LLM),
            ("background-model", SpanKind.LLM),
            ("embedder", SpanKind.EMBEDDING),
            ("tool", SpanKind.TOOL),
            ("tool.v2", SpanKind.TOOL),
            ("retriever", SpanKind.RETRIEVER),
            ("evaluator", SpanKind.EVALUATOR),
        ]
    ],
    # Rule 6: VAI model calls need a model key.
    *[
        KindCase(
            f"r6-{op}",
            {"ai.operationId": op, "ai.model.id": "gpt-4o-mini"},
            kind,
            "vercel_ai",
            scope="ai",
        )
        for op, kind in [
            ("ai.generateText.doGenerate", SpanKind.LLM),
            ("ai.streamText.doStream", SpanKind.LLM),
            ("ai.generateObject.doGenerate", SpanKind.LLM),
            ("ai.streamObject.doStream", SpanKind.LLM),
            ("ai.embed.doEmbed", SpanKind.EMBEDDING),
            ("ai.embedMany.doEmbed", SpanKind.EMBEDDING),
        ]
    ],
    KindCase(
        "r6-operation-name-with-function-id",
        {
            "operation.name": "ai.streamText.doStream support-bot",
            "gen_ai.request.model": "claude-sonnet-4-5",
        },
        SpanKind.LLM,
        "vercel_ai",
        scope="ai",
    ),
    KindCase(
        "r6-needs-a-model",
        {"ai.operationId": "ai.generateText.doGenerate"},
        SpanKind.SPAN,
        "unknown",
        scope="ai",
    ),
    # Rule 7: other VAI operations.
    KindCase(
        "r7-tool-call",
        {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather"},
        SpanKind.TOOL,
        "vercel_ai",
        scope="ai",
    ),
    KindCase(
        "r7-generate-text-wrapper",
        {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o"},
        SpanKind.CHAIN,
        "vercel_ai",
        scope="ai",
    ),
    KindCase(
        "r7-stream-text-wrapper",
        {"operation.name": "ai.streamText chat-fn"},
        SpanKind.CHAIN,
        "vercel_ai",
        scope="ai",
    ),
    # Rule 8: tool keys without an operation name (PAI v2 tool spans).
    KindCase(
        "r8-tool-name",
        {"gen_ai.tool.name": "get_weather"},
        SpanKind.TOOL,
        "otel_genai",
        name="running tool",
    ),
    KindCase(
        "r8-tool-call-id",
        {"gen_ai.tool.call.id": "call_1"},
        SpanKind.TOOL,
        "otel_genai",
    ),
    KindCase(
        "r8-llm-from-r3-wins-over-tool-keys",
        {"gen_ai.operation.name": "chat", "gen_ai.tool.call.id": "call_1"},
        SpanKind.LLM,
        "otel_genai",
    ),
    # Rule 9: framework span names, gated by scope / template.
    KindCase(
        "r9-livekit-agent-turn",
        {},
        SpanKind.AGENT,
        "livekit",
        name="agent_turn",
        scope="livekit-agents",
    ),
    KindCase(
        "r9-livekit-activity",
        {},
        SpanKind.AGENT,
        "livekit",
        name="start_agent_activity",
        scope="livekit-agents",
    ),
    KindCase(
        "r9-livekit-function-tool",
        {},
        SpanKind.TOOL,
        "livekit",
        name="function_tool",
        scope="livekit-agents",
    ),
    KindCase("r9-livekit-needs-scope", {}, SpanKind.SPAN, "unknown", name="function_tool"),
    KindCase(
        "r9-adk-call-llm",
        {"gen_ai.system": "gcp.vertex.agent"},
        SpanKind.LLM,
        "adk",
        name="call_llm",
        scope="gcp.vertex.agent",
    ),
    KindCase(
        "r9-adk-execute-tool",
        {},
        SpanKind.TOOL,
        "adk",
        name="execute_tool get_weather",
        scope="gcp.vertex.agent",
    ),
    KindCase(
        "r9-adk-invoke-agent",
        {},
        SpanKind.AGENT,
        "adk",
        name="invoke_agent root_agent",
        scope="gcp.vertex.agent",
    ),
    KindCase(
        "r9-pai-agent-run",
        {"agent_name": "support"},
        SpanKind.AGENT,
        "pydantic_ai",
        name="agent run",
        scope="pydantic-ai",
    ),
    KindCase(
        "r9-pai-running-tool",
        {"tool_arguments": "{}"},
        SpanKind.TOOL,
        "pydantic_ai",
        name="running tool",
        scope="pydantic-ai",
    ),
    KindCase(
        "r9-pai-chat",
        {},
        SpanKind.LLM,
        "pydantic_ai",
        name="chat gpt-4o",
        scope="pydantic-ai",
    ),
    *[
        KindCase(
            f"r9-logfire-{kind}-{template[:12]}",
            {"logfire.msg_template": template},
            kind,
            "logfire",
            name=template,
            scope="logfire.openai_agents",
        )
        for template, kind in [
            ("Agent run: {name!r}", SpanKind.AGENT),
            ("Function: {name}", SpanKind.TOOL),
            ("Responses API with {gen_ai.request.model!r}", SpanKind.LLM),
            ("Chat completion with {gen_ai.request.model!r}", SpanKind.LLM),
            ("Handoff: {from_agent} → {to_agent}", SpanKind.HANDOFF),
            ("Guardrail {name!r} {triggered=}", SpanKind.GUARDRAIL),
            ("Task: {name}", SpanKind.CHAIN),
            ("Turn {turn}", SpanKind.CHAIN),
            ("Custom span: {name}", SpanKind.CHAIN),
        ]
    ],
    KindCase(
        "r9-flue-tool",
        {},
        SpanKind.TOOL,
        "flue",
        name="flue.tool.search",
        scope="@flue/opentelemetry",
    ),
    KindCase(
        "r9-flue-task",
        {},
        SpanKind.AGENT,
        "flue",
        name="flue.task.plan",
        scope="@flue/opentelemetry",
    ),
    # Rule 10: SC span-name grammar, then OpenLLMetry names.
    *[
        KindCase(f"r10-sc-{name}", {}, kind, "otel_genai", name=name)
        for name, kind in [
            ("chat gpt-4o", SpanKind.LLM),
            ("text_completion davinci-002", SpanKind.LLM),
            ("generate_content gemini-2.5-pro", SpanKind.LLM),
            ("embeddings text-embedding-3-small", SpanKind.EMBEDDING),
            ("execute_tool", SpanKind.TOOL),
            ("execute_tool get_weather", SpanKind.TOOL),
            ("invoke_agent", SpanKind.AGENT),
            ("invoke_agent triage", SpanKind.AGENT),
            ("create_agent planner", SpanKind.AGENT),
            ("invoke_workflow onboarding", SpanKind.CHAIN),
            ("retrieval docs-index", SpanKind.RETRIEVER),
            ("tools/call search_docs", SpanKind.TOOL),
        ]
    ],
    *[
        KindCase(f"r10-tl-{name}", {}, kind, "traceloop", name=name)
        for name, kind in [
            ("joke_generator.workflow", SpanKind.CHAIN),
            ("summarize.task", SpanKind.CHAIN),
            ("triage.agent", SpanKind.AGENT),
            ("get_weather.tool", SpanKind.TOOL),
            ("Triage → Billing.handoff", SpanKind.HANDOFF),
            ("openai.chat", SpanKind.LLM),
            ("openai.response", SpanKind.LLM),
            ("anthropic.chat", SpanKind.LLM),
        ]
    ],
    # Rule 11: model fallback (LF "ModelBased") and Phoenix's key-based variant.
    KindCase(
        "r11-langfuse-model",
        {"langfuse.observation.model.name": "gpt-4o"},
        SpanKind.LLM,
        "langfuse",
    ),
    KindCase(
        "r11-request-model",
        {"gen_ai.request.model": "gpt-4o"},
        SpanKind.LLM,
        "otel_genai",
    ),
    KindCase(
        "r11-response-model",
        {"gen_ai.response.model": "gpt-4o-2024-08-06"},
        SpanKind.LLM,
        "otel_genai",
    ),
    KindCase(
        "r11-input-messages",
        {"gen_ai.input.messages": "[]"},
        SpanKind.LLM,
        "otel_genai",
    ),
    KindCase(
        "r11-llm-model-name",
        {"llm.model_name": "gpt-4o"},
        SpanKind.LLM,
        "openinference",
    ),
    KindCase("r11-bare-model", {"model": "gpt-4o"}, SpanKind.LLM, "unknown"),
    KindCase(
        "r11-retrieval-documents",
        {"gen_ai.retrieval.documents": "[]"},
        SpanKind.RETRIEVER,
        "otel_genai",
    ),
    KindCase(
        "r11-retrieval-query",
        {"gen_ai.retrieval.query.text": "refund policy"},
        SpanKind.RETRIEVER,
        "otel_genai",
    ),
    KindCase(
        "r11-embedding-dimension-beats-model",
        {
            "gen_ai.embeddings.dimension.count": 1536,
            "gen_ai.request.model": "text-embedding-3-small",
        },
        SpanKind.EMBEDDING,
        "otel_genai",
    ),
    # Rule 12.
    KindCase("r12-nothing", {"http.method": "GET"}, SpanKind.SPAN, "unknown", name="GET /api"),
    # Order between rules.
    KindCase(
        "order-langfuse-before-openinference",
        {"langfuse.observation.type": "agent", "openinference.span.kind": "LLM"},
        SpanKind.AGENT,
        "langfuse",
    ),
    KindCase(
        "order-openinference-before-operation",
        {"openinference.span.kind": "LLM", "gen_ai.operation.name": "invoke_agent"},
        SpanKind.LLM,
        "openinference",
    ),
    KindCase(
        "order-operation-before-traceloop",
        {"gen_ai.operation.name": "invoke_agent", "traceloop.span.kind": "task"},
        SpanKind.AGENT,
        "otel_genai",
    ),
]


@pytest.mark.parametrize("case", KIND_CASES, ids=[case.id for case in KIND_CASES])
def test_kind_rules(case: KindCase) -> None:
    fields = norm(case.name, case.attributes, scope=case.scope, scope_version=case.scope_version)
    assert (fields.kind, fields.convention) == (case.kind, case.convention)


class TestAntiRules:
    def test_inherited_agent_name_on_tool_span_stays_tool(self) -> None:
        fields = norm(
            "execute_tool get_weather",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_Jb6u",
                "gen_ai.agent.name": "weather_agent",  # PAI baggage
            },
            scope="pydantic-ai",
        )
        assert fields.kind == SpanKind.TOOL
        assert fields.agent_name == "weather_agent"

    def test_agent_name_alone_is_not_an_agent(self) -> None:
        fields = norm("process_order", {"gen_ai.agent.name": "orders"}, scope="traceloop.tracer")
        assert fields.kind == SpanKind.SPAN
        assert fields.agent_name == "orders"

    def test_tl_openai_agents_workflow_with_provider_is_not_llm(self) -> None:
        fields = norm(
            "Agent Workflow",
            {
                "traceloop.span.kind": "workflow",
                "gen_ai.provider.name": "openai",
                "gen_ai.system": "openai",
            },
            scope="opentelemetry.instrumentation.openai_agents",
        )
        assert fields.kind == SpanKind.CHAIN
        assert fields.convention == "traceloop"

    def test_provider_name_alone_is_not_llm(self) -> None:
        assert norm("Triage → Billing", {"gen_ai.provider.name": "openai"}).kind == SpanKind.SPAN

    def test_otlp_client_kind_alone_decides_nothing(self) -> None:
        assert norm("POST", {}, kind=3).kind == SpanKind.SPAN

    def test_langgraph_node_named_agent_is_not_an_agent_name(self) -> None:
        fields = norm("agent", {"openinference.span.kind": "CHAIN", "graph.node.id": "agent"})
        assert fields.kind == SpanKind.CHAIN
        assert fields.agent_name == ""


# ---------------------------------------------------------------------------------------
# docs/conventions.md, "Priority lists": every list's keys, checked in priority order
# ---------------------------------------------------------------------------------------


@dataclass
class Carrier:
    """One key (or carrier) of a row, with the value normalize() should report for it."""

    id: str
    attributes: dict[str, Any]
    expected: Any
    name: str | None = None


@dataclass
class Row:
    attribute: str
    carriers: list[Carrier]
    base: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    name: str = "span"


def _chain_span(row: Row, start: int) -> tuple[str, dict[str, Any]]:
    """Carriers start..end on one span; higher-priority carriers overwrite shared keys."""
    attributes = dict(row.base)
    for carrier in reversed(row.carriers[start:]):
        attributes.update(carrier.attributes)
    name = next((c.name for c in row.carriers[start:] if c.name), row.name)
    return name, attributes


TOOL_BASE = {"openinference.span.kind": "TOOL"}

ROWS = [
    Row(
        "run_name",
        [
            Carrier("langfuse.trace.name", {"langfuse.trace.name": "checkout"}, "checkout"),
            Carrier(
                "gen_ai.workflow.name",
                {"gen_ai.workflow.name": "onboarding"},
                "onboarding",
            ),
            Carrier(
                "traceloop.workflow.name",
                {"traceloop.workflow.name": "joke_generator"},
                "joke_generator",
            ),
            Carrier("oi-trace.name", {"trace.name": "Agent workflow"}, "Agent workflow"),
            Carrier(
                "logfire-trace-name",
                {
                    "logfire.msg_template": "OpenAI Agents trace: {name}",
                    "name": "Customer service",
                },
                "Customer service",
            ),
        ],
    ),
    Row(
        "display_name",
        [
            Carrier("gen_ai.tool.name", {"gen_ai.tool.name": "get_weather"}, "get_weather"),
            Carrier("genkit:name", {"genkit:name": "menuSuggestion"}, "menuSuggestion"),
            Carrier("logfire.msg", {"logfire.msg": "chat gpt-4o"}, "chat gpt-4o"),
            Carrier("ai.toolCall.name", {"ai.toolCall.name": "weather"}, "weather"),
            Carrier(
                "vai-function-operation",
                {
                    "ai.telemetry.functionId": "support-bot",
                    "ai.operationId": "ai.generateText",
                },
                "support-bot:ai.generateText",
            ),
            Carrier("span-name", {}, "my span", name="my span"),
        ],
    ),
    Row(
        "session_id",
        [
            Carrier("langfuse.session.id", {"langfuse.session.id": "lf-s"}, "lf-s"),
            Carrier("session.id", {"session.id": "oi-s"}, "oi-s"),
            Carrier(
                "gen_ai.conversation.id",
                {"gen_ai.conversation.id": "conv_68"},
                "conv_68",
            ),
            Carrier(
                "observation-metadata",
                {"langfuse.observation.metadata.langfuse_session_id": "obs-s"},
                "obs-s",
            ),
            Carrier(
                "trace-metadata-json",
                {"langfuse.trace.metadata": json.dumps({"langfuse_session_id": "trace-s", "team": "a"})},
                "trace-s",
            ),
            Carrier(
                "ai.telemetry.metadata.sessionId",
                {"ai.telemetry.metadata.sessionId": "vai-s"},
                "vai-s",
            ),
            Carrier(
                "tl-session_id",
                {"traceloop.association.properties.session_id": "tl-s"},
                "tl-s",
            ),
            Carrier(
                "tl-chat_id",
                {"traceloop.association.properties.chat_id": "tl-chat"},
                "tl-chat",
            ),
            Carrier("adk", {"gcp.vertex.agent.session_id": "adk-s"}, "adk-s"),
            Carrier(
                "logfire-group_id",
                {
                    "logfire.msg_template": "OpenAI Agents trace: {name}",
                    "group_id": "thread-9",
                },
                "thread-9",
            ),
            Carrier("mcp.session.id", {"mcp.session.id": "mcp-s"}, "mcp-s"),
        ],
    ),
    Row(
        "user_id",
        [
            Carrier("langfuse.user.id", {"langfuse.user.id": "lf-u"}, "lf-u"),
            Carrier("user.id", {"user.id": "u-42"}, "u-42"),
            Carrier(
                "observation-metadata-json",
                {"langfuse.observation.metadata": '{"langfuse_user_id": "obs-u"}'},
                "obs-u",
            ),
            Carrier(
                "trace-metadata",
                {"langfuse.trace.metadata.langfuse_user_id": "trace-u"},
                "trace-u",
            ),
            Carrier(
                "ai.telemetry.metadata.userId",
                {"ai.telemetry.metadata.userId": "vai-u"},
                "vai-u",
            ),
            Carrier(
                "tl-user_id",
                {"traceloop.association.properties.user_id": "tl-u"},
                "tl-u",
            ),
            Carrier("enduser.id", {"enduser.id": "end-u"}, "end-u"),
            Carrier("gen_ai.user", {"gen_ai.user": "openai-user"}, "openai-user"),
            Carrier("llm.user", {"llm.user": 12345}, "12345"),
        ],
    ),
    Row(
        "environment",
        [
            Carrier("langfuse.environment", {"langfuse.environment": "staging"}, "staging"),
            Carrier(
                "deployment.environment.name",
                {"deployment.environment.name": "production"},
                "production",
            ),
            Carrier("deployment.environment", {"deployment.environment": "dev"}, "dev"),
        ],
    ),
    Row(
        "tags",
        [
            Carrier(
                "langfuse.trace.tags",
                {"langfuse.trace.tags": ["beta", "eu"]},
                ["beta", "eu"],
            ),
            Carrier("langfuse.tags", {"langfuse.tags": '["a", "b"]'}, ["a", "b"]),
            Carrier(
                "observation-metadata",
                {"langfuse.observation.metadata.langfuse_tags": "x,y"},
                ["x", "y"],
            ),
            Carrier(
                "trace-metadata",
                {"langfuse.trace.metadata": '{"langfuse_tags": ["t"]}'},
                ["t"],
            ),
            Carrier(
                "ai.telemetry.metadata.tags",
                {"ai.telemetry.metadata.tags": ["vai"]},
                ["vai"],
            ),
            Carrier("tag.tags", {"tag.tags": ["oi"]}, ["oi"]),
        ],
    ),
    Row(
        "agent_name",
        [
            Carrier("gen_ai.agent.name", {"gen_ai.agent.name": "triage"}, "triage"),
            Carrier("agent.name", {"agent.name": "billing"}, "billing"),
            Carrier("agent_name", {"agent_name": "support"}, "support"),
            Carrier(
                "tl-entity-of-agent",
                {"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"},
                "researcher",
            ),
            Carrier(
                "logfire-agent-run-name",
                {"logfire.msg_template": "Agent run: {name!r}", "name": "Assistant"},
                "Assistant",
            ),
            Carrier(
                "graph.node.id",
                {"openinference.span.kind": "AGENT", "graph.node.id": "Spanish agent"},
                "Spanish agent",
            ),
            Carrier("invoke_agent-name", {}, "planner", name="invoke_agent planner"),
            Carrier("tl-agent-name", {}, "writer", name="writer.agent"),
            Carrier("logfire-msg", {"logfire.msg": "Agent run: 'critic'"}, "critic"),
        ],
    ),
    Row(
        "operation",
        [
            Carrier("gen_ai.operation.name", {"gen_ai.operation.name": "chat"}, "chat"),
            Carrier("llm.request.type", {"llm.request.type": "completion"}, "completion"),
            Carrier(
                "ai.operationId",
                {"ai.operationId": "ai.generateText.doGenerate"},
                "ai.generateText.doGenerate",
            ),
            Carrier(
                "operation.name",
                {"operation.name": "ai.streamText.doStream my-fn"},
                "ai.streamText.doStream",
            ),
        ],
    ),
    Row(
        "provider",
        [
            Carrier(
                "gen_ai.provider.name",
                {"gen_ai.provider.name": "aws.bedrock"},
                "aws.bedrock",
            ),
            Carrier("gen_ai.system", {"gen_ai.system": "anthropic"}, "anthropic"),
            Carrier("llm.provider", {"llm.provider": "azure"}, "azure"),
            Carrier("llm.system", {"llm.system": "openai"}, "openai"),
            Carrier("ai.model.provider", {"ai.model.provider": "mistral.chat"}, "mistral"),
            Carrier(
                "gen_ai.model.provider",
                {"gen_ai.model.provider": "workers-ai"},
                "workers-ai",
            ),
            Carrier("server.address", {"server.address": "api.groq.com"}, "groq"),
            Carrier(
                "model-prefix",
                {"gen_ai.request.model": "claude-sonnet-4-5"},
                "anthropic",
            ),
        ],
    ),
    Row(
        "request_model",
        [
            Carrier("gen_ai.request.model", {"gen_ai.request.model": "gpt-4o"}, "gpt-4o"),
            Carrier(
                "llm.request.model_name",
                {"llm.request.model_name": "gpt-4.1"},
                "gpt-4.1",
            ),
            Carrier("ai.model.id", {"ai.model.id": "gpt-4o-mini"}, "gpt-4o-mini"),
            Carrier(
                "llm.model_name",
                {"llm.model_name": "claude-3-5-haiku"},
                "claude-3-5-haiku",
            ),
            Carrier("langfuse.model", {"langfuse.observation.model.name": "o3"}, "o3"),
            Carrier(
                "embedding.model_name",
                {"embedding.model_name": "text-embedding-3-small"},
                "text-embedding-3-small",
            ),
            Carrier("model", {"model": "mistral-large"}, "mistral-large"),
            Carrier(
                "span-name",
                {},
                "gemini-2.5-flash",
                name="generate_content gemini-2.5-flash",
            ),
        ],
    ),
    Row(
        "response_model",
        [
            Carrier(
                "gen_ai.response.model",
                {"gen_ai.response.model": "gpt-4o-2024-08-06"},
                "gpt-4o-2024-08-06",
            ),
            Carrier(
                "llm.response.model_name",
                {"llm.response.model_name": "gpt-4.1-2025"},
                "gpt-4.1-2025",
            ),
            Carrier(
                "ai.response.model",
                {"ai.response.model": "gpt-4o-mini-2024"},
                "gpt-4o-mini-2024",
            ),
            Carrier(
                "llm.model_name",
                {"llm.model_name": "claude-3-5-haiku"},
                "claude-3-5-haiku",
            ),
            Carrier("langfuse.model", {"langfuse.observation.model.name": "o3"}, "o3"),
            Carrier(
                "llm.response.model",
                {"llm.response.model": "gpt-3.5-turbo-0125"},
                "gpt-3.5-turbo-0125",
            ),
            Carrier("falls-back-to-requested", {"gen_ai.request.model": "gpt-4o"}, "gpt-4o"),
        ],
    ),
    Row(
        "finish_reason",
        [
            Carrier(
                "gen_ai.response.finish_reasons",
                {"gen_ai.response.finish_reasons": ["stop"]},
                "stop",
            ),
            Carrier("llm.finish_reason", {"llm.finish_reason": "length"}, "length"),
            Carrier(
                "gen_ai.response.finish_reason",
                {"gen_ai.response.finish_reason": "tool_calls"},
                "tool_calls",
            ),
            Carrier(
                "ai.response.finishReason",
                {"ai.response.finishReason": "content-filter"},
                "content-filter",
            ),
        ],
    ),
    Row(
        "response_id",
        [
            Carrier("gen_ai.response.id", {"gen_ai.response.id": "chatcmpl-9"}, "chatcmpl-9"),
            Carrier("ai.response.id", {"ai.response.id": "resp_67"}, "resp_67"),
        ],
    ),
    Row(
        "tool_name",
        [
            Carrier("gen_ai.tool.name", {"gen_ai.tool.name": "get_weather"}, "get_weather"),
            Carrier("tool.name", {"tool.name": "search"}, "search"),
            Carrier("ai.toolCall.name", {"ai.toolCall.name": "calculator"}, "calculator"),
            Carrier(
                "tl-entity-of-tool",
                {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup"},
                "lookup",
            ),
            Carrier(
                "logfire-function",
                {"logfire.msg_template": "Function: {name}", "name": "refund"},
                "refund",
            ),
            Carrier("execute_tool-name", {}, "book_flight", name="execute_tool book_flight"),
            Carrier("tl-tool-name", {}, "translate", name="translate.tool"),
            Carrier("mcp-tools-call", {}, "read_file", name="tools/call read_file"),
            Carrier(
                "pai-running-tool-msg",
                {"logfire.msg": "running tool: roll_dice"},
                "roll_dice",
            ),
        ],
        base=TOOL_BASE,
    ),
    Row(
        "tool_call_id",
        [
            Carrier("gen_ai.tool.call.id", {"gen_ai.tool.call.id": "call_Jb6u"}, "call_Jb6u"),
            Carrier("tool.id", {"tool.id": "toolu_01"}, "toolu_01"),
            Carrier("ai.toolCall.id", {"ai.toolCall.id": "call_vai"}, "call_vai"),
        ],
        base=TOOL_BASE,
    ),
    Row(
        "tool_arguments",
        [
            Carrier(
                "langfuse.observation.input",
                {"langfuse.observation.input": '{"lf": 1}'},
                {"lf": 1},
            ),
            Carrier(
                "gen_ai.tool.call.arguments",
                {"gen_ai.tool.call.arguments": '{"city": "Paris"}'},
                {"city": "Paris"},
            ),
            Carrier("input.value", {"input.value": '{"q": "refunds"}'}, {"q": "refunds"}),
            Carrier("tool_arguments", {"tool_arguments": '{"n": 2}'}, {"n": 2}),
            Carrier(
                "ai.toolCall.args",
                {"ai.toolCall.args": '{"a": 1, "b": 2}'},
                {"a": 1, "b": 2},
            ),
            Carrier(
                "traceloop.entity.input",
                {"traceloop.entity.input": '{"args": [1], "kwargs": {}}'},
                {"args": [1], "kwargs": {}},
            ),
            Carrier("adk", {"gcp.vertex.agent.tool_call_args": '{"x": 1}'}, {"x": 1}),
            Carrier("logfire-input", {"input": '{"order": 7}'}, {"order": 7}),
            Carrier(
                "mcp.request.argument",
                {"mcp.request.argument": '{"path": "/srv/data"}'},
                {"path": "/srv/data"},
            ),
            Carrier("axiom", {"gen_ai.tool.arguments": '{"ax": true}'}, {"ax": True}),
            Carrier(
                "tool.parameters-last",
                {"tool.parameters": '{"city": "Rome"}'},
                {"city": "Rome"},
            ),
        ],
        base=TOOL_BASE,
    ),
    Row(
        "tool_result",
        [
            Carrier(
                "langfuse.observation.output",
                {"langfuse.observation.output": '"lf"'},
                "lf",
            ),
            Carrier(
                "gen_ai.tool.call.result",
                {"gen_ai.tool.call.result": '{"temp": 21}'},
                {"temp": 21},
            ),
            Carrier("output.value", {"output.value": "sunny"}, "sunny"),
            Carrier("tool_response", {"tool_response": "4"}, 4),
            Carrier("ai.toolCall.result", {"ai.toolCall.result": '{"sum": 3}'}, {"sum": 3}),
            Carrier("traceloop.entity.output", {"traceloop.entity.output": '"done"'}, "done"),
            Carrier("adk", {"gcp.vertex.agent.tool_response": '{"ok": true}'}, {"ok": True}),
            Carrier("logfire-output", {"output": "refunded"}, "refunded"),
            Carrier("mcp.response.value", {"mcp.response.value": "file body"}, "file body"),
            Carrier("axiom", {"gen_ai.tool.message": "ax"}, "ax"),
        ],
        base=TOOL_BASE,
    ),
    Row(
        "input_tokens",
        [
            Carrier("gen_ai.usage.input_tokens", {"gen_ai.usage.input_tokens": 11}, 11),
            Carrier("gen_ai.usage.prompt_tokens", {"gen_ai.usage.prompt_tokens": 12}, 12),
            Carrier("llm.token_count.prompt", {"llm.token_count.prompt": 13}, 13),
            Carrier("ai.usage.inputTokens", {"ai.usage.inputTokens": 14}, 14),
            Carrier("ai.usage.promptTokens", {"ai.usage.promptTokens": 15}, 15),
            Carrier(
                "usage_details.input",
                {"langfuse.observation.usage_details": '{"input": 16}'},
                16,
            ),
        ],
    ),
    Row(
        "output_tokens",
        [
            Carrier("gen_ai.usage.output_tokens", {"gen_ai.usage.output_tokens": 21}, 21),
            Carrier(
                "gen_ai.usage.completion_tokens",
                {"gen_ai.usage.completion_tokens": 22},
                22,
            ),
            Carrier("llm.token_count.completion", {"llm.token_count.completion": 23}, 23),
            Carrier("ai.usage.outputTokens", {"ai.usage.outputTokens": 24}, 24),
            Carrier("ai.usage.completionTokens", {"ai.usage.completionTokens": 25}, 25),
            Carrier(
                "usage_details.output",
                {"langfuse.observation.usage_details": '{"output": 26}'},
                26,
            ),
        ],
    ),
    Row(
        "cache_read_tokens",
        [
            Carrier("otel", {"gen_ai.usage.cache_read.input_tokens": 31}, 31),
            Carrier("tl-legacy", {"gen_ai.usage.cache_read_input_tokens": 32}, 32),
            Carrier("pai-details", {"gen_ai.usage.details.cache_read_tokens": 33}, 33),
            Carrier(
                "pai-anthropic-details",
                {"gen_ai.usage.details.cache_read_input_tokens": 34},
                34,
            ),
            Carrier("sentry", {"gen_ai.usage.input_tokens.cached": 35}, 35),
            Carrier("oi", {"llm.token_count.prompt_details.cache_read": 36}, 36),
            Carrier("vai", {"ai.usage.cachedInputTokens": 37}, 37),
            Carrier("vai-v6", {"ai.usage.inputTokenDetails.cacheReadTokens": 38}, 38),
            Carrier(
                "vai-provider-metadata",
                {"ai.response.providerMetadata": '{"anthropic": {"cacheReadInputTokens": 39}}'},
                39,
            ),
            Carrier(
                "logfire-raw",
                {"gen_ai.usage.raw": '{"cache_read_input_tokens": 40}'},
                40,
            ),
            Carrier(
                "adk",
                {"gcp.vertex.agent.llm_response.usage_metadata.cached_content_token_count": 41},
                41,
            ),
            Carrier(
                "lf-input_cached_tokens",
                {"langfuse.observation.usage_details": '{"input_cached_tokens": 42}'},
                42,
            ),
            Carrier(
                "lf-cache_read_input_tokens",
                {"langfuse.observation.usage_details": '{"cache_read_input_tokens": 43}'},
                43,
            ),
        ],
    ),
    Row(
        "cache_write_tokens",
        [
            Carrier("otel", {"gen_ai.usage.cache_creation.input_tokens": 51}, 51),
            Carrier("otel-cache_write", {"gen_ai.usage.cache_write.input_tokens": 52}, 52),
            Carrier("tl-legacy", {"gen_ai.usage.cache_creation_input_tokens": 53}, 53),
            Carrier("strands", {"gen_ai.usage.cache_write_input_tokens": 54}, 54),
            Carrier("pai-details", {"gen_ai.usage.details.cache_write_tokens": 55}, 55),
            Carrier(
                "pai-anthropic-details",
                {"gen_ai.usage.details.cache_creation_input_tokens": 56},
                56,
            ),
            Carrier("oi", {"llm.token_count.prompt_details.cache_write": 57}, 57),
            Carrier("vai-v6", {"ai.usage.inputTokenDetails.cacheWriteTokens": 58}, 58),
            Carrier(
                "vai-provider-metadata",
                {"ai.response.providerMetadata": '{"anthropic": {"cacheCreationInputTokens": 59}}'},
                59,
            ),
            Carrier(
                "logfire-raw",
                {"gen_ai.usage.raw": '{"cache_creation_input_tokens": 60}'},
                60,
            ),
            Carrier(
                "lf-input_cache_creation",
                {"langfuse.observation.usage_details": '{"input_cache_creation": 61}'},
                61,
            ),
            Carrier(
                "lf-cache_creation_input_tokens",
                {"langfuse.observation.usage_details": '{"cache_creation_input_tokens": 62}'},
                62,
            ),
        ],
    ),
    Row(
        "reasoning_tokens",
        [
            Carrier("otel", {"gen_ai.usage.reasoning.output_tokens": 71}, 71),
            Carrier("tl", {"gen_ai.usage.reasoning_tokens": 72}, 72),
            Carrier("tl-legacy", {"llm.usage.reasoning_tokens": 73}, 73),
            Carrier("sentry", {"gen_ai.usage.output_tokens.reasoning": 74}, 74),
            Carrier("pai-openai", {"gen_ai.usage.details.reasoning_tokens": 75}, 75),
            Carrier("pai-gemini", {"gen_ai.usage.details.thoughts_tokens": 76}, 76),
            Carrier("oi", {"llm.token_count.completion_details.reasoning": 77}, 77),
            Carrier("vai", {"ai.usage.reasoningTokens": 78}, 78),
            Carrier("vai-v6", {"ai.usage.outputTokenDetails.reasoningTokens": 79}, 79),
            Carrier(
                "lf",
                {"langfuse.observation.usage_details": '{"output_reasoning_tokens": 80}'},
                80,
            ),
        ],
    ),
    Row(
        "reported_cost",
        [
            Carrier(
                "langfuse-cost_details-total",
                {"langfuse.observation.cost_details": '{"input": 0.001, "output": 0.002, "total": 0.0031}'},
                Decimal("0.0031"),
            ),
            Carrier("gen_ai.usage.cost", {"gen_ai.usage.cost": 0.0042}, Decimal("0.0042")),
            Carrier("llm.cost.total", {"llm.cost.total": "0.0053"}, Decimal("0.0053")),
            Carrier("operation.cost", {"operation.cost": 0.000645}, Decimal("0.000645")),
            Carrier(
                "llm.cost.prompt+completion",
                {"llm.cost.prompt": 0.0001, "llm.cost.completion": 0.0002},
                Decimal("0.0003"),
            ),
        ],
    ),
]

ROW_CASES = [(row, index) for row in ROWS for index in range(len(row.carriers))]


@pytest.mark.parametrize(
    ("row", "index"),
    ROW_CASES,
    ids=[f"{row.attribute}-{index}-{row.carriers[index].id}" for row, index in ROW_CASES],
)
def test_master_table_priority(row: Row, index: int) -> None:
    """Each carrier wins over every carrier below it in its row, and is found alone at the bottom."""
    name, attributes = _chain_span(row, index)
    fields = norm(name, attributes, scope=row.scope)
    assert getattr(fields, row.attribute) == row.carriers[index].expected


class TestIdentity:
    def test_environment_span_before_resource_per_key(self) -> None:
        resource = {
            "langfuse.environment": "from-resource",
            "deployment.environment.name": "prod-resource",
        }
        fields = norm("s", {"deployment.environment.name": "prod-span"}, resource=resource)
        assert fields.environment == "from-resource"  # key order first, then span before resource

    def test_failed_openinference_call_takes_its_model_from_invocation_parameters(
        self,
    ) -> None:
        params = json.dumps({"model": "gpt-4o-mini-error", "temperature": 0.2})
        fields = norm(
            "ChatCompletion",
            {"openinference.span.kind": "LLM", "llm.invocation_parameters": params},
        )
        assert fields.request_model == "gpt-4o-mini-error"

    def test_user_id_from_openinference_metadata_json_as_last_resort(self) -> None:
        metadata = json.dumps({"user_id": "user-42", "langgraph_node": "agent"})
        assert norm("agent", {"metadata": metadata}).user_id == "user-42"
        assert norm("agent", {"metadata": metadata, "user.id": "explicit"}).user_id == "explicit"

    def test_environment_from_resource(self) -> None:
        fields = norm("s", {}, resource={"deployment.environment.name": "production"})
        assert fields.environment == "production"

    def test_environment_span_beats_resource_for_the_same_key(self) -> None:
        fields = norm(
            "s",
            {"deployment.environment": "canary"},
            resource={"deployment.environment": "prod"},
        )
        assert fields.environment == "canary"

    @pytest.mark.parametrize(
        ("attributes", "expected"),
        [
            ({"langfuse.internal.as_root": "true"}, True),
            ({"langfuse.internal.as_root": True}, True),
            ({"langfuse.internal.is_app_root": "True"}, True),
            ({"langfuse.internal.as_root": "false"}, False),
            ({}, False),
        ],
        ids=["as_root-string", "as_root-bool", "is_app_root", "false", "absent"],
    )
    def test_is_root(self, attributes: dict[str, Any], expected: bool) -> None:
        assert norm("s", attributes).is_root is expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (["a", "b", "a"], ["a", "b"]),
            ('["x", " y "]', ["x", "y"]),
            ("prod, eu ,", ["prod", "eu"]),
            ("", []),
            (42, []),
        ],
        ids=["list-deduped", "json-array", "comma-separated", "empty", "garbage"],
    )
    def test_tag_shapes(self, value: Any, expected: list[str]) -> None:
        assert norm("s", {"langfuse.trace.tags": value}).tags == expected

    def test_metadata_json_container_stays_unmapped(self) -> None:
        """Only one field of a metadata JSON is taken; the rest is still metadata."""
        fields = norm(
            "s",
            {"langfuse.trace.metadata": '{"langfuse_user_id": "u1", "plan": "pro"}'},
        )
        assert fields.user_id == "u1"
        assert fields.unmapped == ["langfuse.trace.metadata"]


class TestProvider:
    @pytest.mark.parametrize(
        "framework",
        ["langchain", "crewai", "gcp.vertex.agent", "strands-agents", "LangChain"],
    )
    def test_framework_system_is_not_a_provider(self, framework: str) -> None:
        fields = norm("s", {"gen_ai.system": framework, "llm.system": "openai"})
        assert fields.provider == "openai"

    def test_framework_system_alone_falls_back_to_inference(self) -> None:
        fields = norm(
            "call_llm",
            {
                "gen_ai.system": "gcp.vertex.agent",
                "gen_ai.request.model": "gemini-2.5-flash",
            },
            scope="gcp.vertex.agent",
        )
        assert fields.provider == "gcp.gemini"

    def test_vercel_system_value_is_split(self) -> None:
        fields = norm(
            "ai.generateText.doGenerate",
            {"gen_ai.system": "openai.chat", "ai.model.provider": "openai.chat"},
            scope="ai",
        )
        assert fields.provider == "openai"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("Anthropic", "anthropic"),
            ("OpenAI", "openai"),
            ("az.ai.openai", "azure.ai.openai"),
            ("xai", "x_ai"),
            ("vertex_ai", "gcp.vertex_ai"),
        ],
    )
    def test_provider_values_are_normalized(self, value: str, expected: str) -> None:
        assert norm("s", {"gen_ai.system": value}).provider == expected

    @pytest.mark.parametrize(
        ("attributes", "expected"),
        [
            ({"server.address": "api.openai.com"}, "openai"),
            ({"server.address": "my-resource.openai.azure.com"}, "azure.ai.openai"),
            (
                {"server.address": "bedrock-runtime.us-east-1.amazonaws.com"},
                "aws.bedrock",
            ),
            (
                {
                    "server.address": "api.anthropic.com",
                    "gen_ai.request.model": "gpt-4o",
                },
                "anthropic",
            ),
            ({"gen_ai.request.model": "gpt-4o-mini"}, "openai"),
            ({"gen_ai.request.model": "o3-mini"}, "openai"),
            (
                {"gen_ai.request.model": "us.anthropic.claude-sonnet-4-20250514-v1:0"},
                "aws.bedrock",
            ),
            ({"gen_ai.request.model": "anthropic:claude-sonnet-4-5"}, "anthropic"),
            ({"gen_ai.request.model": "openai/gpt-4o"}, "openai"),
            ({"gen_ai.request.model": "my-finetune"}, ""),
        ],
        ids=[
            "openai-host",
            "azure-host",
            "bedrock-host",
            "host-before-model",
            "gpt",
            "o-series",
            "bedrock-model",
            "pai-model-string",
            "router-model",
            "unknown",
        ],
    )
    def test_inferred_last(self, attributes: dict[str, Any], expected: str) -> None:
        assert norm("s", attributes).provider == expected


class TestFinishReason:
    def test_json_array_string(self) -> None:
        assert norm("s", {"gen_ai.response.finish_reasons": '["length"]'}).finish_reason == "length"

    def test_falls_back_to_output_messages(self) -> None:
        output = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "hi"}],
                "finish_reason": "stop",
            }
        ]
        fields = norm("chat gpt-4o", {"gen_ai.output.messages": json.dumps(output)})
        assert fields.finish_reason == "stop"
        assert fields.output == output


# ---------------------------------------------------------------------------------------
# Tools and agents
# ---------------------------------------------------------------------------------------


class TestTools:
    def test_double_encoded_arguments_are_decoded(self) -> None:
        encoded = json.dumps(json.dumps({"city": "Paris"}))
        fields = norm(
            "execute_tool get_weather",
            {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.arguments": encoded},
        )
        assert fields.tool_arguments == {"city": "Paris"}

    def test_structured_values_are_kept(self) -> None:
        fields = norm(
            "execute_tool t",
            {
                "gen_ai.tool.call.arguments": {"a": [1, 2]},
                "gen_ai.tool.call.result": [1],
            },
        )
        assert (fields.tool_arguments, fields.tool_result) == ({"a": [1, 2]}, [1])

    def test_truncated_json_is_kept_as_text(self) -> None:
        fields = norm("execute_tool t", {"gen_ai.tool.call.result": '{"rows": [1, 2, 3'})
        assert fields.tool_result == '{"rows": [1, 2, 3'

    def test_tool_parameters_schema_loses_to_real_arguments(self) -> None:
        fields = norm(
            "search",
            {
                "openinference.span.kind": "TOOL",
                "tool.name": "search",
                "tool.parameters": '{"type": "object", "properties": {"q": {"type": "string"}}}',
                "input.value": '{"q": "refund policy"}',
            },
        )
        assert fields.tool_arguments == {"q": "refund policy"}

    def test_tool_fields_only_on_tool_spans(self) -> None:
        fields = norm(
            "ChatOpenAI",
            {
                "openinference.span.kind": "LLM",
                "input.value": '{"messages": []}',
                "tool.name": "x",
            },
        )
        assert (fields.tool_name, fields.tool_arguments) == ("", None)

    def test_pai_v2_tool_span(self) -> None:
        fields = norm(
            "running tool",
            {
                "gen_ai.tool.name": "roll_dice",
                "gen_ai.tool.call.id": "pyd_ai_tool_call_id_1",
                "tool_arguments": "{}",
                "tool_response": "4",
                "logfire.msg": "running tool: roll_dice",
            },
            scope="pydantic-ai",
        )
        assert (
            fields.kind,
            fields.tool_name,
            fields.tool_call_id,
            fields.tool_arguments,
            fields.tool_result,
        ) == (
            SpanKind.TOOL,
            "roll_dice",
            "pyd_ai_tool_call_id_1",
            {},
            4,
        )


class TestAgents:
    @pytest.mark.parametrize(
        ("name", "attributes", "expected"),
        [
            ("invoke_agent triage", {}, "triage"),
            ("create_agent planner", {}, "planner"),
            ("researcher.agent", {}, "researcher"),
            (
                "Agent run: {name!r}",
                {"logfire.msg": "Agent run: 'Assistant'"},
                "Assistant",
            ),
            ("Agent run: {name!r}", {}, ""),  # the template is not a name
        ],
        ids=[
            "invoke_agent",
            "create_agent",
            "tl-suffix",
            "logfire-msg",
            "template-only",
        ],
    )
    def test_agent_from_names(self, name: str, attributes: dict[str, Any], expected: str) -> None:
        assert norm(name, attributes).agent_name == expected

    def test_graph_node_id_only_on_agent_spans(self) -> None:
        fields = norm(
            "execute_tool weather",
            {"gen_ai.tool.name": "weather", "graph.node.id": "tool_weather_12345"},
        )
        assert fields.agent_name == ""
        assert "graph.node.id" in fields.unmapped


# ---------------------------------------------------------------------------------------
# Pitfall 1: cached tokens, inclusive vs exclusive, decided by source (one case per row)
# ---------------------------------------------------------------------------------------


@dataclass
class CacheCase:
    row: str  # usage.CACHE_BASIS row name
    attributes: dict[str, Any]
    scope: str
    input_tokens: int
    cache_read: int | None = None
    name: str = "chat"
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.row} ({self.label})" if self.label else self.row


CACHE_CASES = [
    CacheCase(
        "langfuse usage_details",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.usage_details": json.dumps(
                {
                    "input": 100,
                    "input_cached_tokens": 800,
                    "input_cache_creation": 50,
                    "output": 20,
                }
            ),
        },
        "langfuse-sdk",
        950,
        800,
    ),
    CacheCase(
        "openinference llm.token_count",
        {
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 1045,
            "llm.token_count.prompt_details.cache_read": 800,
            "llm.token_count.prompt_details.cache_write": 200,
        },
        "openinference.instrumentation.anthropic",
        1045,
        800,
    ),
    CacheCase(
        "vercel ai v6+",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "claude-sonnet-4-5",
            "ai.model.provider": "anthropic.messages",
            "ai.usage.inputTokens": 10_000,
            "ai.usage.inputTokenDetails.noCacheTokens": 500,
            "ai.usage.inputTokenDetails.cacheReadTokens": 8_000,
            "ai.usage.inputTokenDetails.cacheWriteTokens": 1_500,
        },
        "ai",
        10_000,
        8_000,
    ),
    CacheCase(
        "vercel ai <6, anthropic/bedrock",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "claude-3-7-sonnet-20250219",
            "ai.model.provider": "anthropic.messages",
            "gen_ai.usage.input_tokens": 12,
            "ai.usage.inputTokens": 12,
            "ai.usage.cachedInputTokens": 6209,
            "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": 100}}),
        },
        "ai",
        12 + 6209 + 100,
        6209,
    ),
    CacheCase(
        "vercel ai <6, anthropic/bedrock",
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.id": "claude-sonnet-4@20250514",
            "ai.model.provider": "vertex.anthropic.messages",
            "ai.usage.inputTokens": 40,
            "ai.usage.cachedInputTokens": 900,
        },
        "ai",
        940,
        900,
        label="vertex anthropic",
    ),
    CacheCase(
        "vercel ai <6, anthropic/bedrock",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "ai.model.provider": "amazon-bedrock",
            "ai.usage.promptTokens": 4299,
            "ai.response.providerMetadata": json.dumps(
                {
                    "bedrock": {
                        "usage": {
                            "cacheReadInputTokens": 500,
                            "cacheWriteInputTokens": 300,
                        }
                    }
                }
            ),
        },
        "ai",
        5099,
        500,
        label="bedrock, v4 keys",
    ),
    CacheCase(
        "vercel ai <6, openai-shaped",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "gpt-4o",
            "ai.model.provider": "openai.chat",
            "ai.usage.inputTokens": 2006,
            "ai.usage.cachedInputTokens": 1920,
        },
        "ai",
        2006,
        1920,
    ),
    CacheCase(
        "vercel ai <6, other provider",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "mistral-large-latest",
            "ai.model.provider": "mistral.chat",
            "ai.usage.inputTokens": 100,
            "ai.usage.cachedInputTokens": 300,  # impossible if inclusive → exclusive
        },
        "ai",
        400,
        300,
    ),
    CacheCase(
        "pydantic-ai",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 130_213,
            "gen_ai.usage.details.cache_read_tokens": 120_000,
            "gen_ai.usage.details.cache_write_tokens": 10_000,
        },
        "pydantic-ai",
        130_213,  # pydantic-ai#4364: not 260,421
        120_000,
    ),
    CacheCase(
        "logfire with gen_ai.usage.raw",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 10_021,
            "gen_ai.usage.raw": json.dumps(
                {
                    "input_tokens": 21,
                    "cache_read_input_tokens": 10_000,
                    "output_tokens": 5,
                }
            ),
        },
        "logfire.anthropic",
        10_021,
        10_000,
    ),
    CacheCase(
        "logfire, openai-shaped",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 2006,
            "gen_ai.usage.cache_read.input_tokens": 1920,
        },
        "logfire.openai",
        2006,
        1920,
    ),
    CacheCase(
        "logfire, older",
        {
            "gen_ai.system": "anthropic",
            "request_data": "{}",
            "gen_ai.usage.input_tokens": 21,
            "gen_ai.usage.cache_read.input_tokens": 10_000,
        },
        "logfire.anthropic",
        10_021,
        10_000,
    ),
    CacheCase(
        "openllmetry anthropic",
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.usage.input_tokens": 10_021,
            "gen_ai.usage.cache_read_input_tokens": 10_000,
            "gen_ai.usage.cache_creation_input_tokens": 0,
        },
        "opentelemetry.instrumentation.anthropic",
        10_021,
        10_000,
        name="anthropic.chat",
    ),
    CacheCase(
        "openai instrumentations",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 2006,
            "gen_ai.usage.cache_read.input_tokens": 1920,
        },
        "opentelemetry.instrumentation.openai_v2",
        2006,
        1920,
    ),
    CacheCase(
        "otel genai contrib",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.cache_read.input_tokens": 1500,
            "gen_ai.usage.cache_write.input_tokens": 1400,
        },
        "opentelemetry.util.genai",
        3000,
        1500,
    ),
    CacheCase(
        "openinference gen_ai dual-emit",
        {
            "openinference.span.kind": "LLM",
            "gen_ai.usage.input_tokens": 2006,
            "llm.token_count.prompt": 2006,
            "gen_ai.usage.cache_read.input_tokens": 1920,
        },
        "openinference.instrumentation.openai",
        2006,
        1920,
    ),
    CacheCase(
        "google adk",
        {
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.usage.input_tokens": 5000,
            "gcp.vertex.agent.llm_response.usage_metadata.cached_content_token_count": 4000,
        },
        "gcp.vertex.agent",
        5000,
        4000,
        name="call_llm",
    ),
    CacheCase(
        "anthropic sdk native",
        # The case arithmetic cannot catch: 5,000 uncached + 800 read looks inclusive.
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.cache_read.input_tokens": 800,
        },
        "anthropic",
        5800,
        800,
    ),
    CacheCase(
        "strands",
        # Strands <1.34 (openinference strands processor test): input excludes cache; the total says so.
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 4299,
            "gen_ai.usage.output_tokens": 631,
            "gen_ai.usage.cache_read_input_tokens": 35_574,
            "gen_ai.usage.cache_write_input_tokens": 17_787,
            "gen_ai.usage.total_tokens": 58_291,
        },
        "strands.telemetry.tracer",
        4299 + 35_574 + 17_787,
        35_574,
    ),
]


@pytest.mark.parametrize("case", CACHE_CASES, ids=[case.id for case in CACHE_CASES])
def test_cache_basis_rows(case: CacheCase) -> None:
    span = make_span(case.name, case.attributes, scope=case.scope)
    fields = normalize(span)
    assert (fields.input_tokens, fields.cache_read_tokens) == (
        case.input_tokens,
        case.cache_read,
    )


@pytest.mark.parametrize("case", CACHE_CASES, ids=[case.id for case in CACHE_CASES])
def test_cache_basis_case_hits_its_row(case: CacheCase) -> None:
    view = SpanView(make_span(case.name, case.attributes, scope=case.scope))
    fields = normalize(make_span(case.name, case.attributes, scope=case.scope))
    source = usage.UsageSource(_input_family(case.attributes), view.scope, fields.provider, view)
    basis = usage.cache_basis(source)
    assert basis is not None
    assert basis.name == case.row


def _input_family(attributes: dict[str, Any]) -> usage.Family:
    """The family of the input key normalize() picks: the first of INPUT_TOKENS on the span."""
    keys = [key for key in usage.INPUT_TOKENS if isinstance(key, str) and key in attributes]
    return usage.family_of(keys[0]) if keys else usage.Family.LANGFUSE


def test_every_cache_basis_row_has_a_case() -> None:
    assert {row.name for row in usage.CACHE_BASIS} == {case.row for case in CACHE_CASES}


class TestCacheArithmetic:
    """Only for sources no row knows."""

    def test_strands_later_versions_include_cache(self) -> None:
        fields = norm(
            "chat",
            {
                "gen_ai.usage.input_tokens": 8,
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.usage.total_tokens": 10,
                "gen_ai.usage.cache_read.input_tokens": 3,
                "gen_ai.usage.cache_creation.input_tokens": 1,
            },
            scope="strands.telemetry.tracer",
        )
        assert fields.input_tokens == 8

    @pytest.mark.parametrize(
        ("input_tokens", "cache", "output", "total", "exclusive"),
        [
            (100, 800, None, None, True),  # cache > input: impossible if inclusive
            (
                5000,
                800,
                None,
                None,
                False,
            ),  # the documented blind spot: looks inclusive
            (5000, 800, 100, 5900, True),  # a total settles it
            (5000, 800, 100, 5100, False),
            (100, 0, None, None, False),
        ],
        ids=[
            "impossible-inclusive",
            "blind-spot",
            "total-exclusive",
            "total-inclusive",
            "no-cache",
        ],
    )
    def test_hint(
        self,
        input_tokens: int,
        cache: int,
        output: int | None,
        total: int | None,
        exclusive: bool,
    ) -> None:
        assert usage.exclusive_by_arithmetic(input_tokens, cache, output, total) is exclusive

    def test_unknown_emitter_uses_the_hint(self) -> None:
        fields = norm(
            "chat claude",
            {
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.cache_read.input_tokens": 6209,
            },
            scope="acme-tracer",
        )
        assert fields.input_tokens == 6221


class TestOutputTokens:
    def test_langfuse_reasoning_bucket_is_added(self) -> None:
        fields = norm(
            "s",
            {"langfuse.observation.usage_details": '{"output": 50, "output_reasoning_tokens": 200}'},
        )
        assert (fields.output_tokens, fields.reasoning_tokens) == (250, 200)

    def test_otel_output_already_includes_reasoning(self) -> None:
        fields = norm(
            "chat o3",
            {
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.usage.reasoning.output_tokens": 200,
            },
        )
        assert fields.output_tokens == 300

    def test_reasoning_larger_than_output_means_exclusive(self) -> None:
        fields = norm(
            "chat gemini",
            {
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.details.thoughts_tokens": 200,
            },
        )
        assert fields.output_tokens == 250


class TestTokenValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("150", 150),
            (150.0, 150),
            ("150.0", 150),
            ("1e3", 1000),
            (" 7 ", 7),
            (-5, None),
            ("-5", None),
            ("abc", None),
            (True, None),
            (float("nan"), None),
            (float("inf"), None),
            (10**30, None),
            ("9" * 40, None),
            ([1], None),
            ("", None),
        ],
        ids=[
            "str",
            "float",
            "str-float",
            "exponent",
            "spaces",
            "negative",
            "negative-str",
            "garbage",
            "bool",
            "nan",
            "inf",
            "huge-int",
            "huge-str",
            "list",
            "empty",
        ],
    )
    def test_coercion(self, value: Any, expected: int | None) -> None:
        assert norm("chat m", {"gen_ai.usage.input_tokens": value}).input_tokens == expected

    def test_garbage_falls_through_to_the_next_key(self) -> None:
        fields = norm("s", {"gen_ai.usage.input_tokens": "n/a", "llm.token_count.prompt": 7})
        assert fields.input_tokens == 7

    def test_dual_emit_takes_the_higher_priority_key_never_the_sum(self) -> None:
        fields = norm(
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "gen_ai.usage.input_tokens": 100,
                "llm.token_count.prompt": 100,
                "gen_ai.usage.output_tokens": 20,
                "llm.token_count.completion": 20,
                "gen_ai.usage.prompt_tokens": 90,
            },
            scope="openinference.instrumentation.openai",
        )
        assert (fields.input_tokens, fields.output_tokens) == (100, 20)
        assert fields.unmapped == []

    def test_details_keys_are_never_summed(self) -> None:
        """langfuse#16489: PAI `details.text_prompt_tokens` duplicates input_tokens."""
        fields = norm(
            "chat gemini-2.5-flash",
            {
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.details.text_prompt_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
            },
            scope="pydantic-ai",
        )
        assert fields.input_tokens == 100


# ---------------------------------------------------------------------------------------
# Pitfall 2: aggregated usage on parent spans
# ---------------------------------------------------------------------------------------


class TestAggregatedUsage:
    def test_pai_v2_agent_span_aggregated_usage_is_read_and_marked(self) -> None:
        fields = norm(
            "invoke_agent support",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "gen_ai.agent.call.id": "run-1",
                "gen_ai.aggregated_usage.input_tokens": 2400,
                "gen_ai.aggregated_usage.output_tokens": 310,
                "gen_ai.aggregated_usage.cache_read.input_tokens": 1800,
            },
            scope="pydantic-ai",
        )
        assert (
            fields.input_tokens,
            fields.output_tokens,
            fields.cache_read_tokens,
        ) == (2400, 310, 1800)
        assert fields.aggregated_usage is True
        assert fields.kind == SpanKind.AGENT

    def test_pai_v1_agent_run_usage_is_aggregated(self) -> None:
        fields = norm(
            "agent run",
            {
                "agent_name": "support",
                "model_name": "gpt-4o",
                "gen_ai.usage.input_tokens": 2400,
                "gen_ai.usage.output_tokens": 310,
            },
            scope="pydantic-ai",
        )
        assert (fields.kind, fields.aggregated_usage, fields.input_tokens) == (
            SpanKind.AGENT,
            True,
            2400,
        )

    def test_vai7_invoke_agent_is_aggregated(self) -> None:
        fields = norm(
            "invoke_agent",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 900},
            scope="ai",
        )
        assert fields.aggregated_usage is True

    def test_vai_wrapper_is_aggregated(self) -> None:
        fields = norm(
            "ai.generateText",
            {
                "ai.operationId": "ai.generateText",
                "ai.model.id": "gpt-4o",
                "ai.usage.promptTokens": 900,
                "ai.usage.completionTokens": 40,
            },
            scope="ai",
        )
        assert (fields.kind, fields.aggregated_usage, fields.input_tokens) == (
            SpanKind.CHAIN,
            True,
            900,
        )

    def test_llm_usage_is_not_aggregated(self) -> None:
        fields = norm(
            "chat gpt-4o",
            {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10},
        )
        assert fields.aggregated_usage is False

    def test_no_usage_no_flag(self) -> None:
        assert norm("invoke_agent a", {"gen_ai.operation.name": "invoke_agent"}).aggregated_usage is False


# ---------------------------------------------------------------------------------------
# Cost
# ---------------------------------------------------------------------------------------


class TestCost:
    def test_float_becomes_exact_decimal(self) -> None:
        cost = norm("s", {"operation.cost": 0.1}).reported_cost
        assert cost == Decimal("0.1")
        assert isinstance(cost, Decimal)

    def test_langfuse_cost_details_without_total_sums_buckets(self) -> None:
        cost = norm(
            "s",
            {"langfuse.observation.cost_details": {"input": 0.001, "output": 0.002}},
        ).reported_cost
        assert cost == Decimal("0.003")

    @pytest.mark.parametrize(
        "value",
        ["free", -1, float("nan"), True, 10**12],
        ids=["text", "negative", "nan", "bool", "huge"],
    )
    def test_garbage_cost_is_absent(self, value: Any) -> None:
        assert norm("s", {"gen_ai.usage.cost": value}).reported_cost is None


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def exception_event(kind: str, message: str) -> SpanEvent:
    return SpanEvent("exception", 1, {"exception.type": kind, "exception.message": message})


class TestErrors:
    def test_status_error_with_message(self) -> None:
        fields = norm("chat gpt-4o", {}, status=2, status_message="Rate limit reached")
        assert (fields.is_error, fields.error_message) == (True, "Rate limit reached")

    def test_error_type(self) -> None:
        fields = norm("chat gpt-4o", {"error.type": "openai.RateLimitError"}, status=2)
        assert (fields.is_error, fields.error_type) == (True, "openai.RateLimitError")

    def test_exception_event(self) -> None:
        fields = norm(
            "execute_tool t",
            {},
            events=[exception_event("ValueError", "bad city")],
            status=2,
        )
        assert (fields.error_type, fields.error_message) == ("ValueError", "bad city")

    def test_exception_event_with_status_ok_is_not_an_error(self) -> None:
        assert norm("s", {}, events=[exception_event("KeyError", "x")], status=1).is_error is False

    @pytest.mark.parametrize("level", ["ERROR", "FATAL", "CRITICAL", "error"])
    def test_langfuse_level(self, level: str) -> None:
        fields = norm(
            "s",
            {
                "langfuse.observation.level": level,
                "langfuse.observation.status_message": "boom",
            },
        )
        assert (fields.is_error, fields.error_message) == (True, "boom")

    def test_langfuse_warning_is_not_an_error(self) -> None:
        assert norm("s", {"langfuse.observation.level": "WARNING"}).is_error is False

    def test_pai_failure_stage(self) -> None:
        fields = norm(
            "execute_tool t",
            {"pydantic_ai.tool.failure_stage": "validation"},
            scope="pydantic-ai",
        )
        assert (fields.is_error, fields.error_type) == (True, "validation")

    def test_pai_deferral_is_not_an_error(self) -> None:
        fields = norm(
            "execute_tool approve_refund",
            {"pydantic_ai.tool.deferral.name": "approval"},
            scope="pydantic-ai",
        )
        assert fields.is_error is False

    def test_pai_v4_deferral_exception_is_not_an_error(self) -> None:
        fields = norm(
            "execute_tool approve_refund",
            {},
            status=2,
            events=[exception_event("pydantic_ai.exceptions.ApprovalRequired", "")],
            scope="pydantic-ai",
        )
        assert fields.is_error is False

    def test_unset_status_is_success(self) -> None:
        assert norm("s", {}).is_error is False


# ---------------------------------------------------------------------------------------
# docs/conventions.md, "Span shapes by framework"
# ---------------------------------------------------------------------------------------


class TestShapes:
    def test_otel_genai_llm_span(self) -> None:
        fields = norm(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.id": "chatcmpl-AeB2",
                "gen_ai.response.finish_reasons": ["tool_calls"],
                "gen_ai.usage.input_tokens": 2006,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.usage.cache_read.input_tokens": 1920,
                "server.address": "api.openai.com",
                "gen_ai.request.temperature": 0.2,
            },
            scope="opentelemetry.instrumentation.openai_v2",
            kind=3,
        )
        assert fields.kind == SpanKind.LLM
        assert (fields.provider, fields.request_model, fields.response_model) == (
            "openai",
            "gpt-4o",
            "gpt-4o-2024-08-06",
        )
        assert (
            fields.input_tokens,
            fields.output_tokens,
            fields.cache_read_tokens,
        ) == (2006, 300, 1920)
        assert (fields.response_id, fields.finish_reason, fields.operation) == (
            "chatcmpl-AeB2",
            "tool_calls",
            "chat",
        )
        assert fields.unmapped == ["gen_ai.request.temperature"]

    def test_otel_genai_agent_and_tool(self) -> None:
        agent = norm(
            "invoke_agent Math Tutor",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "Math Tutor",
                "gen_ai.agent.id": "asst_5j6",
                "gen_ai.conversation.id": "conv_5j6",
            },
        )
        assert (agent.kind, agent.agent_name, agent.session_id) == (
            SpanKind.AGENT,
            "Math Tutor",
            "conv_5j6",
        )
        tool = norm(
            "execute_tool get_weather",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_mszuSIzqtI65i1wAUOE8w5H4",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": '{"location": "Paris"}',
                "gen_ai.tool.call.result": '{"temperature_c": 21}',
            },
        )
        assert (tool.kind, tool.tool_name, tool.tool_call_id) == (
            SpanKind.TOOL,
            "get_weather",
            "call_mszuSIzqtI65i1wAUOE8w5H4",
        )
        assert (tool.tool_arguments, tool.tool_result) == (
            {"location": "Paris"},
            {"temperature_c": 21},
        )

    def test_openai_agents_via_openinference(self) -> None:
        scope = "openinference.instrumentation.openai_agents"
        root = norm(
            "Agent workflow",
            {"openinference.span.kind": "AGENT", "trace.name": "Agent workflow"},
            scope=scope,
        )
        assert (root.kind, root.run_name) == (SpanKind.AGENT, "Agent workflow")
        agent = norm(
            "Triage",
            {
                "openinference.span.kind": "AGENT",
                "graph.node.id": "Triage",
                "graph.node.parent_id": "Billing",
            },
            scope=scope,
        )
        assert (agent.kind, agent.agent_name) == (SpanKind.AGENT, "Triage")
        llm = norm(
            "Response",
            {
                "openinference.span.kind": "LLM",
                "llm.system": "openai",
                "llm.model_name": "gpt-4o-2024-08-06",
                "llm.token_count.prompt": 1200,
                "llm.token_count.completion": 85,
                "llm.token_count.total": 1285,
                "llm.token_count.prompt_details.cache_read": 1024,
                "llm.token_count.completion_details.reasoning": 0,
            },
            scope=scope,
        )
        assert (
            llm.kind,
            llm.provider,
            llm.request_model,
            llm.input_tokens,
            llm.cache_read_tokens,
        ) == (
            SpanKind.LLM,
            "openai",
            "gpt-4o-2024-08-06",
            1200,
            1024,
        )
        handoff = norm(
            "handoff to Billing",
            {"openinference.span.kind": "TOOL", "tool.name": "transfer_to_billing"},
            scope=scope,
        )
        assert (handoff.kind, handoff.tool_name) == (
            SpanKind.TOOL,
            "transfer_to_billing",
        )
        guardrail = norm("Homework guardrail", {"openinference.span.kind": "GUARDRAIL"}, scope=scope)
        assert guardrail.kind == SpanKind.GUARDRAIL

    def test_openai_agents_via_traceloop(self) -> None:
        scope = "opentelemetry.instrumentation.openai_agents"
        agent = norm(
            "Triage.agent",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "Triage",
                "gen_ai.provider.name": "openai",
            },
            scope=scope,
        )
        assert (agent.kind, agent.agent_name) == (SpanKind.AGENT, "Triage")
        llm = norm(
            "openai.response",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
            },
            scope=scope,
            kind=3,
        )
        assert llm.kind == SpanKind.LLM
        tool = norm(
            "get_weather.tool",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
                "gen_ai.tool.call.result": "cold",
                "gen_ai.provider.name": "openai",
            },
            scope=scope,
        )
        assert (tool.kind, tool.tool_name, tool.tool_arguments) == (
            SpanKind.TOOL,
            "get_weather",
            {"city": "Oslo"},
        )
        handoff = norm(
            "Triage → Billing.handoff",
            {
                "gen_ai.operation.name": "handoff",
                "gen_ai.handoff.from_agent": "Triage",
                "gen_ai.handoff.to_agent": "Billing",
            },
            scope=scope,
        )
        assert handoff.kind == SpanKind.HANDOFF

    def test_openai_agents_via_logfire(self) -> None:
        scope = "logfire.openai_agents"
        root = norm(
            "OpenAI Agents trace: {name}",
            {
                "logfire.msg_template": "OpenAI Agents trace: {name}",
                "logfire.msg": "OpenAI Agents trace: Support",
                "name": "Support",
                "group_id": "thread-1",
            },
            scope=scope,
        )
        assert (root.run_name, root.session_id) == ("Support", "thread-1")
        agent = norm(
            "Agent run: {name!r}",
            {
                "logfire.msg_template": "Agent run: {name!r}",
                "logfire.msg": "Agent run: 'Triage'",
                "name": "Triage",
                "handoffs": '["Billing"]',
                "tools": "[]",
                "output_type": "str",
            },
            scope=scope,
        )
        assert (agent.kind, agent.agent_name, agent.display_name) == (
            SpanKind.AGENT,
            "Triage",
            "Agent run: 'Triage'",
        )
        llm = norm(
            "Responses API with {gen_ai.request.model!r}",
            {
                "logfire.msg_template": "Responses API with {gen_ai.request.model!r}",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 90,
            },
            scope=scope,
        )
        assert (llm.kind, llm.provider, llm.input_tokens) == (
            SpanKind.LLM,
            "openai",
            90,
        )
        tool = norm(
            "Function: {name}",
            {
                "logfire.msg_template": "Function: {name}",
                "name": "get_weather",
                "input": '{"city": "Oslo"}',
                "output": "cold",
            },
            scope=scope,
        )
        assert (tool.kind, tool.tool_name, tool.tool_arguments, tool.tool_result) == (
            SpanKind.TOOL,
            "get_weather",
            {"city": "Oslo"},
            "cold",
        )

    def test_pydantic_ai_v1_shapes(self) -> None:
        chat = norm(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 57,
                "gen_ai.usage.output_tokens": 8,
                "operation.cost": 0.0002225,
            },
            scope="pydantic-ai",
        )
        assert (
            chat.kind,
            chat.provider,
            chat.reported_cost,
            chat.aggregated_usage,
        ) == (SpanKind.LLM, "openai", Decimal("0.0002225"), False)

    def test_pydantic_ai_v2_shapes(self) -> None:
        run = norm(
            "invoke_agent weather_agent",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "weather_agent",
                "gen_ai.conversation.id": "c-1",
                "gen_ai.aggregated_usage.input_tokens": 114,
            },
            scope="pydantic-ai",
        )
        assert (run.agent_name, run.session_id, run.aggregated_usage) == (
            "weather_agent",
            "c-1",
            True,
        )

    def test_vercel_ai_shapes(self) -> None:
        call = norm(
            "ai.generateText.doGenerate",
            {
                "operation.name": "ai.generateText.doGenerate support-bot",
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.telemetry.functionId": "support-bot",
                "ai.model.id": "gpt-4o-mini",
                "ai.model.provider": "openai.chat",
                "gen_ai.system": "openai.chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 41,
                "gen_ai.usage.output_tokens": 9,
                "ai.usage.promptTokens": 41,
                "ai.usage.completionTokens": 9,
                "ai.response.finishReason": "stop",
                "ai.response.id": "chatcmpl-1",
                "ai.telemetry.metadata.userId": "u-7",
            },
            scope="ai",
        )
        assert (call.kind, call.provider, call.display_name, call.operation) == (
            SpanKind.LLM,
            "openai",
            "support-bot:ai.generateText.doGenerate",
            "ai.generateText.doGenerate",
        )
        assert (
            call.input_tokens,
            call.output_tokens,
            call.finish_reason,
            call.response_id,
            call.user_id,
        ) == (41, 9, "stop", "chatcmpl-1", "u-7")
        tool = norm(
            "ai.toolCall",
            {
                "ai.operationId": "ai.toolCall",
                "ai.toolCall.name": "weather",
                "ai.toolCall.id": "call_1",
                "ai.toolCall.args": '{"city": "SF"}',
                "ai.toolCall.result": '{"f": 72}',
            },
            scope="ai",
        )
        assert (
            tool.kind,
            tool.tool_name,
            tool.tool_call_id,
            tool.tool_arguments,
            tool.tool_result,
        ) == (SpanKind.TOOL, "weather", "call_1", {"city": "SF"}, {"f": 72})


# ---------------------------------------------------------------------------------------
# unmapped, and never raising
# ---------------------------------------------------------------------------------------


class TestUnmapped:
    def test_lists_only_unknown_keys_sorted(self) -> None:
        fields = norm(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "zeta.custom": 1,
                "alpha.custom": 2,
                "http.route": "/chat",
            },
        )
        assert fields.unmapped == ["alpha.custom", "http.route", "zeta.custom"]

    def test_keys_read_as_input_and_output_are_not_unmapped(self) -> None:
        fields = norm(
            "chain",
            {
                "openinference.span.kind": "CHAIN",
                "input.value": "hi",
                "output.value": "hello",
                "x": 1,
            },
        )
        assert (fields.input, fields.output, fields.unmapped) == ("hi", "hello", ["x"])

    def test_messages_are_read_by_the_decided_kind(self) -> None:
        # Plain text is a user/assistant message on an LLM span only; the kind comes from
        # openinference.span.kind alone, so the message reader must be given the decided kind.
        attributes = {"input.value": "hi", "output.value": "yo"}
        llm = norm("s", {"openinference.span.kind": "LLM", **attributes})
        chain = norm("s", {"openinference.span.kind": "CHAIN", **attributes})
        assert llm.kind == SpanKind.LLM
        assert llm.input == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
        assert llm.output == [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
        assert (chain.kind, chain.input, chain.output) == (SpanKind.CHAIN, "hi", "yo")


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
ODD_VALUES = st.recursive(
    JSON_SCALARS | st.binary(max_size=8) | st.just("9" * 400) | st.just('{"input": "x"'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
KNOWN_KEYS = sorted(
    {
        key
        for sources in (
            usage.INPUT_TOKENS,
            usage.OUTPUT_TOKENS,
            usage.TOTAL_TOKENS,
            usage.CACHE_READ_TOKENS,
            usage.CACHE_WRITE_TOKENS,
            usage.REASONING_TOKENS,
            usage.COST,
        )
        for key in sources
        if isinstance(key, str)
    }
    | {
        "langfuse.observation.type",
        "langfuse.observation.usage_details",
        "langfuse.observation.cost_details",
        "langfuse.trace.metadata",
        "langfuse.trace.tags",
        "openinference.span.kind",
        "gen_ai.operation.name",
        "gen_ai.system",
        "gen_ai.request.model",
        "gen_ai.tool.call.arguments",
        "gen_ai.response.finish_reasons",
        "traceloop.span.kind",
        "ai.operationId",
        "ai.response.providerMetadata",
        "gen_ai.usage.raw",
        "logfire.msg_template",
        "logfire.msg",
        "error.type",
        "server.address",
        "input.value",
    }
)
ATTRIBUTES = st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=12), ODD_VALUES, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=ATTRIBUTES,
    name=st.text(max_size=30) | st.sampled_from(["chat gpt-4o", "execute_tool x", "agent run", "a.agent"]),
    scope=st.sampled_from(
        [
            "",
            "ai",
            "pydantic-ai",
            "logfire.openai",
            "anthropic",
            "langfuse-sdk",
            "strands",
        ]
    ),
    status=st.integers(-1, 5),
    resource=st.dictionaries(st.text(max_size=8), ODD_VALUES, max_size=3),
)
def test_garbage_never_raises(
    attributes: dict[str, Any],
    name: str,
    scope: str,
    status: int,
    resource: dict[str, Any],
) -> None:
    events = [
        SpanEvent(
            "exception",
            0,
            {"exception.type": attributes.get("error.type"), "exception.message": name},
        )
    ]
    fields = normalize(
        make_span(
            name,
            attributes,
            scope=scope,
            status=status,
            resource=resource,
            events=events,
        )
    )
    assert fields.kind in SpanKind.ALL
    for count in (
        fields.input_tokens,
        fields.output_tokens,
        fields.cache_read_tokens,
        fields.cache_write_tokens,
        fields.reasoning_tokens,
    ):
        assert count is None or 0 <= count < 2**63
    assert fields.reported_cost is None or isinstance(fields.reported_cost, Decimal)
    assert all(isinstance(key, str) for key in fields.unmapped)


@pytest.mark.parametrize(
    ("name", "attributes", "kind"),
    [
        ("plan", {"gen_ai.operation.name": "plan"}, SpanKind.CHAIN),
        ("invoke_workflow triage", {"gen_ai.operation.name": "invoke_workflow"}, SpanKind.CHAIN),
        ("create_agent helper", {"gen_ai.operation.name": "create_agent"}, SpanKind.AGENT),
        (
            "search_memory prefs",
            {"gen_ai.operation.name": "search_memory", "gen_ai.memory.store.id": "m1"},
            SpanKind.RETRIEVER,
        ),
        ("update_memory prefs", {"gen_ai.operation.name": "update_memory"}, SpanKind.SPAN),
        ("run_guardrail pii", {"gen_ai.operation.name": "run_guardrail"}, SpanKind.GUARDRAIL),
        ("apply_guardrail pii llm_input", {}, SpanKind.GUARDRAIL),
        ("tools/call lookup", {"mcp.method.name": "tools/call", "gen_ai.tool.name": "lookup"}, SpanKind.TOOL),
        ("tools/list", {"mcp.method.name": "tools/list"}, SpanKind.SPAN),
    ],
)
def test_newer_genai_operations_and_mcp_methods_have_their_kind(name, attributes, kind):
    fields = norm(name, attributes)
    assert fields.kind == kind
    assert "gen_ai.operation.name" not in fields.unmapped and "mcp.method.name" not in fields.unmapped


def test_an_mcp_tools_call_names_its_tool():
    fields = norm("tools/call lookup_order", {"mcp.method.name": "tools/call", "mcp.session.id": "s-1"})
    assert (fields.kind, fields.tool_name) == (SpanKind.TOOL, "lookup_order")


def test_an_invoke_agent_span_named_after_its_model_names_no_agent():
    """Vercel AI SDK 7 without a functionId: `invoke_agent gpt-4o-mini` is not an agent called gpt-4o-mini."""
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o-mini"}
    assert norm("invoke_agent gpt-4o-mini", attributes, scope="ai").agent_name == ""
    assert norm("invoke_agent triage", attributes).agent_name == "triage"


@pytest.mark.parametrize(
    ("attributes", "scope", "warnings"),
    [
        ({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
          "gen_ai.usage.cache_read.input_tokens": 80, "gen_ai.usage.total_tokens": 120}, "", []),
        ({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
          "gen_ai.usage.cache_read.input_tokens": 300}, "opentelemetry.instrumentation.openai_v2", ["cache_above_input"]),
        ({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
          "gen_ai.usage.reasoning.output_tokens": 50}, "", ["reasoning_above_output"]),
        ({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20, "gen_ai.usage.total_tokens": 150},
         "", ["total_mismatch"]),
        # Anthropic's native input excludes cache: a larger cache is normal there.
        ({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20,
          "gen_ai.usage.cache_read.input_tokens": 300}, "anthropic", []),
    ],
)  # fmt: skip
def test_usage_that_contradicts_itself_is_flagged(attributes, scope, warnings):
    fields = norm("chat gpt-4o", {"gen_ai.operation.name": "chat", **attributes}, scope=scope)
    assert fields.usage_warnings == warnings


@pytest.mark.parametrize(
    ("name", "attributes", "verdict", "tripped"),
    [
        ("run_guardrail pii", {"gen_ai.operation.name": "run_guardrail", "gen_ai.guardrail.verdict.type": "DENY"},
         "deny", True),
        ("run_guardrail pii", {"gen_ai.operation.name": "run_guardrail", "gen_ai.guardrail.verdict.type": "allow"},
         "allow", False),
        ("apply_guardrail pii llm_input", {"gen_ai.security.decision.type": "modify"}, "modify", True),
        ("apply_guardrail pii llm_input", {"gen_ai.security.decision.type": "audit"}, "audit", False),
        ("moderation", {"gen_ai.guardrail.triggered": True}, "triggered", True),
        ("moderation", {"gen_ai.guardrail.triggered": "false"}, "passed", False),
        # Logfire's OpenAI-Agents guardrail span: the SDK's `triggered` as a plain attribute.
        ("Guardrail {name!r} {triggered=}", {"logfire.msg_template": "Guardrail {name!r} {triggered=}",
                                              "name": "no_atlantis", "triggered": True}, "triggered", True),
        # A plain `triggered` on a span that is no guardrail means something else.
        ("webhook", {"triggered": True}, "", False),
    ],
)  # fmt: skip
def test_a_guardrail_span_carries_its_verdict(name, attributes, verdict, tripped):
    fields = norm(name, attributes)
    assert fields.guardrail_verdict == verdict
    assert genai.guardrail_tripped(fields.guardrail_verdict) is tripped
    if verdict:
        assert not {"gen_ai.guardrail.verdict.type", "gen_ai.security.decision.type", "triggered"} & set(
            fields.unmapped
        )


@pytest.mark.parametrize(
    ("attributes", "kind", "resource", "server"),
    [
        ({"mcp.method.name": "tools/call", "server.address": "mcp.internal", "server.port": 8931}, 3, {},
         "mcp.internal:8931"),
        ({"mcp.method.name": "tools/call", "server.address": "docs-mcp"}, 3, {}, "docs-mcp"),
        # Recorded by the MCP server itself: the server is the service that sent the span.
        ({"mcp.method.name": "tools/call"}, 2, {"service.name": "orders-mcp"}, "orders-mcp"),
        # A client over stdio has no address: unknown, not the caller's own service name.
        ({"mcp.method.name": "tools/call", "network.transport": "pipe"}, 3, {"service.name": "agent"}, ""),
        ({"mcp.method.name": "tools/list", "server.address": "mcp.internal"}, 3, {}, ""),
    ],
)  # fmt: skip
def test_an_mcp_tools_call_names_its_server(attributes, kind, resource, server):
    fields = norm("tools/call lookup", attributes, kind=kind, resource=resource)
    assert fields.mcp_server == server


# ---------------------------------------------------------------------------------------
# The spec the code cites: docs/conventions.md
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "conventions.md"
# `docs/conventions.md, "Span kinds", rule 5`; the heading may run onto a comment's next line.
CITATION = re.compile(
    r'docs/conventions\.md,[\s#]+"([^"]+)"'
    r"(?:,\s+(?:(rule|pitfall)\s+(\d+)|tags?\s+([A-Z]+†?(?:,\s+[A-Z]+†?)*)))?"
)
_SKIPPED_DIRS = {".git", ".venv", "node_modules", "build", "__pycache__"}


def _spec_sections() -> dict[str, str]:
    """Each heading of the spec with the text under it, up to the next heading of its level or above."""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    headings = [
        (i, len(m.group(1)), m.group(2).strip())
        for i, line in enumerate(lines)
        if (m := re.match(r"^(#+) (.+)$", line))
    ]
    sections = {}
    for position, (start, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[position + 1 :] if lvl <= level), len(lines))
        sections[title] = "\n".join(lines[start + 1 : end])
    return sections


def _numbers(section: str) -> set[int]:
    """Rule numbers (`| 5 |` table rows) and numbered list items (`5. `) of a section."""
    found = re.findall(r"^(?:\| (\d+) \||(\d+)\. )", section, re.MULTILINE)
    return {int(row or item) for row, item in found}


def _citations() -> list[tuple[str, str, str | None, str | None, str | None]]:
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]
        for file in files:
            path = Path(directory) / file
            if path.suffix not in {".py", ".md", ".html", ".js"} or path == SPEC:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in CITATION.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                heading = re.sub(r"\s*\n[\s#]*", " ", match.group(1)).strip()
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append((where, heading, match.group(2), match.group(3), match.group(4)))
    return found


def test_every_citation_of_the_spec_names_a_heading_and_number_it_has() -> None:
    """Code cites the spec by heading and number: a renamed heading or a renumbered rule takes
    its citations along, or this names each one left behind."""
    sections = _spec_sections()
    citations = _citations()
    assert len(citations) > 30  # the normalizer cites the spec throughout; fewer means the pattern broke
    missing = []
    for where, heading, numbered, number, tags in citations:
        if heading not in sections:
            missing.append(f'{where}: no heading "{heading}"')
        elif numbered and int(number or 0) not in _numbers(sections[heading]):
            missing.append(f'{where}: "{heading}" has no {numbered} {number}')
        elif tags:
            missing.extend(
                f'{where}: "{heading}" has no tag {tag}'
                for tag in re.split(r",\s+", tags)
                if not re.search(rf"^\| {tag} \||\*\*{tag}\*\*", sections[heading], re.MULTILINE)
            )
    assert missing == []


def test_the_spec_numbers_the_kind_rules_as_the_classifier_does() -> None:
    documented = _numbers(_spec_sections()["Span kinds"].split("\n### ")[0])
    assert documented == {rule.number for rule in kinds.RULES} | {12}  # 12: nothing decided


def test_the_spec_has_one_cache_row_per_cache_basis_row() -> None:
    table = [line for line in _spec_sections()["Cache inside the input"].splitlines() if line.startswith("| ")]
    assert len(table) - 2 == len(usage.CACHE_BASIS)  # less the header and its underline
