"""Per-concept priority lists: docs/conventions.md, "Priority lists", row by row, in its order.

Why per concept rather than per dialect: the lists interleave conventions within one
concept (user id: Langfuse, then OI/OTel `user.id`, then Langfuse metadata, then VAI, then
OpenLLMetry), so "try dialect A, then dialect B" cannot reproduce it. Each list below is
that row, key for key, with the convention tag in a comment; keys or sources that none
of the sources lists are marked "(addition)". Dialect modules supply the sources that are
not one plain key (JSON buckets, keys gated by another key, span-name patterns).
Tokens and cost live in usage.py, errors in errors.py, kinds in kinds.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.conventions import (
    genai,
    openai_agents,
    providers,
    pydantic_ai,
    traceloop,
    vercel_ai,
)
from ingest.conventions.langfuse import MetadataValue
from ingest.conventions.span_view import Source, SpanView, first
from ingest.conventions.values import as_first_text, as_payload, as_tags, as_text
from ingest.records import SpanKind

_OBSERVATION_METADATA = "langfuse.observation.metadata"
_TRACE_METADATA = "langfuse.trace.metadata"


def _span_name(view: SpanView) -> str:
    return view.name


@dataclass(frozen=True, slots=True)
class ResourceAttribute:
    """A resource attribute as a source (environment is checked on the span, then the resource)."""

    key: str

    def __call__(self, view: SpanView) -> Any:
        return view.resource(self.key)


def _server_address(view: SpanView) -> str | None:
    return providers.provider_from_host(view.get("server.address"))


def _model_prefix(view: SpanView) -> str | None:
    return providers.provider_from_model(response_model(view))


DISPLAY_NAME: tuple[Source, ...] = (
    "gen_ai.tool.name",  # OTel
    "genkit:name",  # Genkit
    "logfire.msg",  # LFR / PAI
    "ai.toolCall.name",  # VAI
    vercel_ai.function_operation_name,  # VAI functionId:operationId
    _span_name,
)
OPERATION: tuple[Source, ...] = (
    "gen_ai.operation.name",  # OTel
    "llm.request.type",  # TL†
    "ai.operationId",  # VAI
    vercel_ai.operation_name,  # VAI operation.name
)
PROVIDER: tuple[Source, ...] = (
    "gen_ai.provider.name",  # OTel ≥1.37
    "gen_ai.system",  # OTel† (PAI, LFR, TL ≤0.4x); may be a framework: rejected by providers.provider_name
    "llm.provider",  # OI hosting provider
    "llm.system",  # OI vendor
    vercel_ai.model_provider,  # VAI ai.model.provider, `openai.chat` → `openai`
    "gen_ai.model.provider",  # X: Cloudflare
    _server_address,  # inferred
    _model_prefix,  # inferred
)
REQUEST_MODEL: tuple[Source, ...] = (
    "gen_ai.request.model",  # OTel
    "llm.request.model_name",  # OI (new)
    "ai.model.id",  # VAI
    "llm.model_name",  # OI
    "langfuse.observation.model.name",  # LF
    "embedding.model_name",  # OI EMBEDDING
    "model",
    genai.model_from_span_name,  # `{op} {model}`
    MetadataValue("llm.invocation_parameters", "model"),  # (addition) OI: a failed call's only model
)
RESPONSE_MODEL: tuple[Source, ...] = (
    "gen_ai.response.model",  # OTel
    "llm.response.model_name",  # OI
    "ai.response.model",  # VAI
    "llm.model_name",  # OI: the response model when known
    "langfuse.observation.model.name",  # LF
    "llm.response.model",  # TL†
)  # → requested model
FINISH_REASON: tuple[Source, ...] = (
    "gen_ai.response.finish_reasons",  # OTel string[]
    "llm.finish_reason",  # OI
    "gen_ai.response.finish_reason",  # TL
    "ai.response.finishReason",  # VAI
)  # → `finish_reason` of the output messages
RESPONSE_ID: tuple[Source, ...] = (
    "gen_ai.response.id",  # OTel
    "ai.response.id",  # VAI
)
AGENT_NAME: tuple[Source, ...] = (
    "gen_ai.agent.name",  # OTel, PAI, TL (inherited by descendants: "owning agent")
    "agent.name",  # OI
    "agent_name",  # PAI run span
    traceloop.entity_name_if("agent"),  # TL
    openai_agents.logfire_agent_name,  # LFR `name` on `Agent run` spans
    openai_agents.graph_node_of_agent,  # OI openai-agents graph.node.id
    genai.agent_from_span_name,  # `invoke_agent {n}`, `create_agent {n}`
    traceloop.agent_from_span_name,  # `{n}.agent`
    openai_agents.agent_from_logfire_message,  # `Agent run: '{n}'`
)
SESSION_ID: tuple[Source, ...] = (
    "langfuse.session.id",  # LF
    "session.id",  # OI, OTel general, LF
    "gen_ai.conversation.id",  # OTel
    MetadataValue(_OBSERVATION_METADATA, "langfuse_session_id"),  # LF
    MetadataValue(_TRACE_METADATA, "langfuse_session_id"),  # LF
    "ai.telemetry.metadata.sessionId",  # VAI
    "traceloop.association.properties.session_id",  # TL (user-chosen key)
    "traceloop.association.properties.chat_id",  # TL
    "gcp.vertex.agent.session_id",  # ADK
    openai_agents.logfire_group_id,  # LFR OpenAI-Agents root
    "mcp.session.id",  # weak
)
USER_ID: tuple[Source, ...] = (
    "langfuse.user.id",  # LF
    "user.id",  # OI, LF, OTel general
    MetadataValue(_OBSERVATION_METADATA, "langfuse_user_id"),  # LF
    MetadataValue(_TRACE_METADATA, "langfuse_user_id"),  # LF
    "ai.telemetry.metadata.userId",  # VAI
    "traceloop.association.properties.user_id",  # TL
    "enduser.id",  # OTel general
    "gen_ai.user",  # TL (the OpenAI `user` request field; weak)
    "llm.user",  # TL†
    MetadataValue("metadata", "user_id"),  # (addition) OI JSON `metadata`, e.g. LangChain run config metadata
)
RUN_NAME: tuple[Source, ...] = (
    "langfuse.trace.name",  # LF, any span
    "gen_ai.workflow.name",  # OTel 1.41
    "traceloop.workflow.name",  # TL
    "trace.name",  # OI openai-agents root
    openai_agents.logfire_trace_name,  # (addition) LFR `OpenAI Agents trace: {name}` root
)  # → the run-level code falls back to the root span's name
ENVIRONMENT: tuple[Source, ...] = (
    "langfuse.environment",
    ResourceAttribute("langfuse.environment"),
    "deployment.environment.name",
    ResourceAttribute("deployment.environment.name"),
    "deployment.environment",
    ResourceAttribute("deployment.environment"),
)
TAGS: tuple[Source, ...] = (
    "langfuse.trace.tags",  # LF
    "langfuse.tags",  # LF
    MetadataValue(_OBSERVATION_METADATA, "langfuse_tags"),  # LF
    MetadataValue(_TRACE_METADATA, "langfuse_tags"),  # LF
    "ai.telemetry.metadata.tags",  # VAI
    "tag.tags",  # OI
)
TOOL_NAME: tuple[Source, ...] = (
    "gen_ai.tool.name",  # OTel, PAI, TL decorators
    "tool.name",  # OI
    "ai.toolCall.name",  # VAI
    traceloop.entity_name_if("tool"),  # TL
    openai_agents.logfire_function_name,  # LFR `name` on `Function:` spans
    genai.tool_from_span_name,  # `execute_tool {n}`
    traceloop.tool_from_span_name,  # `{n}.tool`
    genai.tool_from_mcp_span_name,  # `tools/call {n}`
    pydantic_ai.tool_from_message,  # logfire.msg `running tool: {n}`
)
TOOL_CALL_ID: tuple[Source, ...] = (
    "gen_ai.tool.call.id",  # OTel
    "tool.id",  # OI
    "ai.toolCall.id",  # VAI
)
TOOL_ARGUMENTS: tuple[Source, ...] = (
    "langfuse.observation.input",  # LF
    "gen_ai.tool.call.arguments",  # OTel 1.38+, PAI ≥v3, TL openai-agents
    "input.value",  # OI TOOL spans
    "tool_arguments",  # PAI instrumentation v2
    "ai.toolCall.args",  # VAI
    "traceloop.entity.input",  # TL decorator ({"args": [...], "kwargs": {...}})
    "gcp.vertex.agent.tool_call_args",  # ADK
    "input",  # LFR OpenAI-Agents FunctionSpanData
    "mcp.request.argument",  # TL MCP
    "gen_ai.tool.arguments",  # X: Axiom
    "tool.parameters",  # last resort: a schema in OI instrumentations, arguments in PX's converter
)
TOOL_RESULT: tuple[Source, ...] = (
    "langfuse.observation.output",  # LF
    "gen_ai.tool.call.result",  # OTel
    "output.value",  # OI
    "tool_response",  # PAI instrumentation v2
    "ai.toolCall.result",  # VAI
    "traceloop.entity.output",  # TL
    "gcp.vertex.agent.tool_response",  # ADK
    "output",  # LFR
    "mcp.response.value",  # TL MCP
    "gen_ai.tool.message",  # X: Axiom
)


def text(view: SpanView, sources: tuple[Source, ...]) -> str:
    return first(view, sources, as_text) or ""


def provider(view: SpanView) -> str:
    """The first real provider; VAI writes `{provider}.{api}` into every provider key it sets."""
    name = first(view, PROVIDER, providers.provider_name) or ""
    if view.scope == vercel_ai.SCOPE:
        return vercel_ai.provider_family(name) or ""
    return name


def request_model(view: SpanView) -> str:
    return view.memo(request_model, lambda: text(view, REQUEST_MODEL))


def response_model(view: SpanView) -> str:
    # Memoized: the provider's last resort (`_model_prefix`) reads it too.
    return view.memo(response_model, lambda: text(view, RESPONSE_MODEL) or request_model(view))


def finish_reason(view: SpanView, output: Any) -> str:
    return first(view, FINISH_REASON, as_first_text) or _finish_reason_of_messages(output)


def _finish_reason_of_messages(output: Any) -> str:
    """The last `finish_reason` among SC output messages (`{role, parts, finish_reason}`)."""
    if not isinstance(output, list):
        return ""
    reasons = [
        text for message in output if isinstance(message, dict) and (text := as_text(message.get("finish_reason")))
    ]
    return reasons[-1] if reasons else ""


def tags(view: SpanView) -> list[str]:
    return first(view, TAGS, as_tags) or []


@dataclass(frozen=True, slots=True)
class Tool:
    name: str = ""
    call_id: str = ""
    arguments: Any = None
    result: Any = None


def tool(view: SpanView) -> Tool:
    """Tool fields, read only on TOOL spans: `input.value`, `input`, `output` mean something else elsewhere."""
    if view.kind != SpanKind.TOOL:
        return Tool()
    return Tool(
        name=text(view, TOOL_NAME),
        call_id=text(view, TOOL_CALL_ID),
        arguments=first(view, TOOL_ARGUMENTS, as_payload),
        result=first(view, TOOL_RESULT, as_payload),
    )
