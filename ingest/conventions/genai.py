"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`), current (1.41) and deprecated names.

Source: open-telemetry/semantic-conventions v1.41.0 `docs/gen-ai/*` (docs/conventions.md, "Sources", tag SC).
Used by the OTel contrib instrumentations and, alongside their own keys, by pydantic-ai,
Logfire, OpenLLMetry ≥0.5, Strands and Google ADK.
"""

from __future__ import annotations

import re

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_flag, as_text
from ingest.records import SpanKind

OPERATION_NAME = "gen_ai.operation.name"

# Rule 3: SC operation names, then custom values seen in the wild (docs/conventions.md, "Operation names").
_OPERATION_KINDS = {
    "chat": SpanKind.LLM,
    "text_completion": SpanKind.LLM,
    "generate_content": SpanKind.LLM,
    "completion": SpanKind.LLM,  # legacy, per Langfuse
    "generate": SpanKind.LLM,  # legacy, per Langfuse
    "embeddings": SpanKind.EMBEDDING,
    "execute_tool": SpanKind.TOOL,
    "invoke_agent": SpanKind.AGENT,
    "create_agent": SpanKind.AGENT,
    "invoke_workflow": SpanKind.CHAIN,
    "retrieval": SpanKind.RETRIEVER,
    "handoff": SpanKind.HANDOFF,  # OpenLLMetry openai-agents
    "execute_task": SpanKind.CHAIN,  # OpenLLMetry
    "llm_request": SpanKind.LLM,  # OpenLLMetry
    "vector_db_retrieve": SpanKind.RETRIEVER,  # OpenLLMetry
    "agent_step": SpanKind.AGENT,  # Vercel AI SDK 7; its usage is aggregate
    "plan": SpanKind.CHAIN,  # an agent's planning step (GenAI conventions after 1.41)
    # Memory operations (semantic-conventions-genai): a search reads like a retrieval; writes are other work.
    "search_memory": SpanKind.RETRIEVER,
    "create_memory": SpanKind.SPAN,
    "update_memory": SpanKind.SPAN,
    "upsert_memory": SpanKind.SPAN,
    "delete_memory": SpanKind.SPAN,
    "create_memory_store": SpanKind.SPAN,
    "delete_memory_store": SpanKind.SPAN,
    # Guardrail runs (semantic-conventions-genai proposal; OpenLLMetry's `apply_guardrail`).
    "run_guardrail": SpanKind.GUARDRAIL,
    "apply_guardrail": SpanKind.GUARDRAIL,
}
MCP_METHOD = "mcp.method.name"

# Rule 10: the SC span-name grammar, `{operation} {target}`.
_NAME_GRAMMAR = (
    (
        re.compile(r"^(chat|text_completion|generate_content) .+", re.IGNORECASE),
        SpanKind.LLM,
    ),
    (re.compile(r"^embeddings .+", re.IGNORECASE), SpanKind.EMBEDDING),
    (re.compile(r"^execute_tool( .+)?$", re.IGNORECASE), SpanKind.TOOL),
    (re.compile(r"^(invoke_agent|create_agent)( .+)?$", re.IGNORECASE), SpanKind.AGENT),
    (re.compile(r"^invoke_workflow .+", re.IGNORECASE), SpanKind.CHAIN),
    (re.compile(r"^retrieval .+", re.IGNORECASE), SpanKind.RETRIEVER),
    (re.compile(r"^tools/call .+", re.IGNORECASE), SpanKind.TOOL),  # MCP
    (re.compile(r"^(run_guardrail|apply_guardrail)( .+)?$", re.IGNORECASE), SpanKind.GUARDRAIL),
    (re.compile(r"^search_memory( .+)?$", re.IGNORECASE), SpanKind.RETRIEVER),
)

_MODEL_IN_NAME = re.compile(r"^(?:chat|text_completion|generate_content|embeddings) (.+)$", re.IGNORECASE)
_AGENT_IN_NAME = re.compile(r"^(?:invoke_agent|create_agent) (.+)$", re.IGNORECASE)
_TOOL_IN_NAME = re.compile(r"^execute_tool (.+)$", re.IGNORECASE)
_MCP_TOOL_IN_NAME = re.compile(r"^tools/call (.+)$", re.IGNORECASE)

# Rule 11, Phoenix's variant for spans without an operation name (PX `conversion.py`).
_RETRIEVAL_KEYS = ("gen_ai.retrieval.documents", "gen_ai.retrieval.query.text")
_EMBEDDING_KEYS = ("gen_ai.embeddings.dimension.count",)
_LLM_KEYS = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
)


def kind_from_operation(view: SpanView) -> str | None:
    """Rule 3."""
    return _OPERATION_KINDS.get(view.lower(OPERATION_NAME))


def kind_from_mcp_method(view: SpanView) -> str | None:
    """Rule 3, MCP part: a `tools/call` is a tool call (client or server side); other MCP methods
    (`initialize`, `tools/list`, ...) are protocol chatter."""
    method = view.lower(MCP_METHOD)
    if not method:
        return None
    return SpanKind.TOOL if method == "tools/call" else SpanKind.SPAN


def kind_from_tool_keys(view: SpanView) -> str | None:
    """Rule 8: pydantic-ai v2 tool spans carry tool keys but no operation name.

    The guard "not when rule 3 said LLM" holds by construction: rule 3 runs first and wins.
    """
    present = [view.has("gen_ai.tool.name"), view.has("gen_ai.tool.call.id")]
    return SpanKind.TOOL if any(present) else None


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 10, SC part."""
    return next((kind for pattern, kind in _NAME_GRAMMAR if pattern.match(view.name)), None)


def kind_from_retrieval_keys(view: SpanView) -> str | None:
    """Rule 11 (Phoenix): retrieval or embedding keys are more specific than a model key."""
    retrieval = [view.has(key) for key in _RETRIEVAL_KEYS]
    embedding = [view.has(key) for key in _EMBEDDING_KEYS]
    if any(retrieval):
        return SpanKind.RETRIEVER
    return SpanKind.EMBEDDING if any(embedding) else None


def kind_from_model_keys(view: SpanView) -> str | None:
    """Rule 11: a model or message key without any other signal means an LLM call."""
    present = [view.has(key) for key in _LLM_KEYS]
    return SpanKind.LLM if any(present) else None


def _group(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.match(text)
    if match is None:
        return None
    return match.group(1).strip() or None


def model_from_span_name(view: SpanView) -> str | None:
    """`chat gpt-4o` → `gpt-4o`: the last resort for the requested model."""
    return _group(_MODEL_IN_NAME, view.name)


def agent_from_span_name(view: SpanView) -> str | None:
    """`invoke_agent {name}` / `create_agent {name}`, unless the name is the span's model: the
    Vercel AI SDK 7 names its root `invoke_agent {model}` when the call has no `functionId`."""
    name = _group(_AGENT_IN_NAME, view.name)
    models = [view.attributes.get("gen_ai.request.model"), view.attributes.get("gen_ai.response.model")]
    return None if name in models else name


def tool_from_span_name(view: SpanView) -> str | None:
    """`execute_tool {name}` (SC; pydantic-ai ≥ instrumentation v3)."""
    return _group(_TOOL_IN_NAME, view.name)


def tool_from_mcp_span_name(view: SpanView) -> str | None:
    """`tools/call {name}` (SC MCP)."""
    return _group(_MCP_TOOL_IN_NAME, view.name)


# Guardrail verdicts: the GenAI security proposal's `gen_ai.guardrail.verdict.type` (allow, deny,
# modify, warn, audit), the earlier drafts' `gen_ai.security.*` names, then plain booleans.
_VERDICT_KEYS = (
    "gen_ai.guardrail.verdict.type",
    "gen_ai.security.verdict.type",
    "gen_ai.security.decision.type",
    "gen_ai.guardrail.decision",
)
_TRIGGERED_KEY = "gen_ai.guardrail.triggered"
# Verdicts that let the content through untouched; any other verdict is a trip.
GUARDRAIL_PASSES = frozenset({"allow", "allowed", "pass", "passed", "ok", "none", "audit", "not_triggered"})


def guardrail_verdict(view: SpanView) -> str:
    """The verdict a guardrail span reports, lowercased ("deny", "modify", …); booleans read as
    "triggered" / "passed" (OpenAI Agents' guardrail span data, via Logfire, says `triggered`)."""
    for key in _VERDICT_KEYS:
        verdict = as_text(view.get(key))
        if verdict:
            return verdict.lower()[:40]
    triggered = view.get(_TRIGGERED_KEY)
    if triggered is None and view.kind == SpanKind.GUARDRAIL:
        triggered = view.get("triggered")
    if triggered is None or isinstance(triggered, list | dict):
        return ""
    return "triggered" if as_flag(triggered) else "passed"


def guardrail_tripped(verdict: str) -> bool:
    return bool(verdict) and verdict not in GUARDRAIL_PASSES


def mcp_server(view: SpanView) -> str:
    """The MCP server of a `tools/call`: `server.address[:server.port]` on the client's span; the
    server's own `service.name` on a server-side span; "" when neither says (stdio transports)."""
    if view.lower(MCP_METHOD) != "tools/call":
        return ""
    address = as_text(view.get("server.address"))
    if address:
        port = view.get("server.port")
        return f"{address}:{port}" if isinstance(port, int) and not isinstance(port, bool) else address
    if view.span.kind == 2:  # SERVER: the span was recorded by the MCP server itself
        return as_text(view.resource("service.name")) or ""
    return ""
