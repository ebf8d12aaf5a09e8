"""The records intake passes around: decoded OTLP spans and log events in, normalized span fields out.

Pure: no Django imports. `otlp.decode_*` produce these; `conventions.normalize` reads a
`RawSpan` and returns `SpanFields`; `services.ingest_spans` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class RawSpan:
    """One span as it arrived, ids as lowercase hex, AnyValues decoded to Python values."""

    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str  # "" for a root
    name: str
    kind: int  # OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    status_code: int = 0  # 0 unset, 1 ok, 2 error
    status_message: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""


@dataclass(slots=True)
class LogEvent:
    """A log record that carries a GenAI event (message content sent on the logs signal)."""

    trace_id: str  # "" when the record is not tied to a span
    span_id: str
    time_ns: int
    name: str  # event_name, else attributes["event.name"]
    attributes: dict[str, Any]
    body: Any
    service_name: str = ""  # the resource's service.name: who sent it (evaluation events' author)


@dataclass(slots=True)
class Rejected:
    index: int  # position of the item in the request, counting across resource/scope blocks
    reason: str


@dataclass(slots=True)
class DecodedTraces:
    spans: list[RawSpan]
    rejected: list[Rejected]


@dataclass(slots=True)
class DecodedLogs:
    events: list[LogEvent]
    rejected: list[Rejected]


class SpanKind:
    """Internal span kinds (docs/conventions.md, "Span kinds"); stored lowercase."""

    AGENT = "agent"
    LLM = "llm"
    EMBEDDING = "embedding"
    TOOL = "tool"
    RETRIEVER = "retriever"
    RERANKER = "reranker"
    CHAIN = "chain"
    GUARDRAIL = "guardrail"
    EVALUATOR = "evaluator"
    HANDOFF = "handoff"
    SPAN = "span"

    ALL = (
        AGENT,
        LLM,
        EMBEDDING,
        TOOL,
        RETRIEVER,
        RERANKER,
        CHAIN,
        GUARDRAIL,
        EVALUATOR,
        HANDOFF,
        SPAN,
    )


@dataclass(slots=True)
class SpanFields:
    """What the normalizer understood of one span. Empty string / None means "not present"."""

    kind: str = SpanKind.SPAN
    convention: str = "unknown"  # the convention that decided the kind, e.g. "otel_genai", "openinference"
    display_name: str = ""
    operation: str = ""
    provider: str = ""
    request_model: str = ""
    response_model: str = ""
    # Token counts. input_tokens INCLUDES cache read and cache write tokens (decided per source,
    # docs/conventions.md, "Cache inside the input"); output_tokens INCLUDES reasoning tokens.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # True when this span's usage repeats its children's (agent run / chain / wrapper spans).
    aggregated_usage: bool = False
    usage_warnings: list[str] = field(default_factory=list)  # usage.WARNINGS codes
    modality_tokens: dict[str, int] = field(default_factory=dict)  # e.g. {"input_audio_tokens": 300}
    agent_by_rule: bool = False  # agent_name came from the project's own rule (agent_names.py)
    reported_cost: Decimal | None = None  # USD, when the span carried a provider/SDK cost
    response_id: str = ""
    finish_reason: str = ""
    tool_name: str = ""
    tool_call_id: str = ""
    tool_arguments: Any = None
    tool_result: Any = None
    mcp_server: str = ""  # the MCP server of a `tools/call` (host:port, or the server's service name)
    guardrail_verdict: str = ""  # a guardrail span's verdict, lowercased ("deny", "triggered", "allow"…)
    is_error: bool = False
    error_type: str = ""
    error_message: str = ""
    agent_name: str = ""  # the agent this span belongs to (own name for agent spans, inherited otherwise)
    session_id: str = ""
    user_id: str = ""
    run_name: str = ""  # explicit trace/workflow name carried by this span (langfuse.trace.name, ...)
    environment: str = ""
    tags: list[str] = field(default_factory=list)
    is_root: bool = False  # langfuse.internal.as_root / is_app_root
    input: Any = None  # list of SC messages {role, parts: [...]} for LLM spans, else the raw decoded value
    output: Any = None
    unmapped: list[str] = field(default_factory=list)  # attribute keys no rule consumed
    # Attribute keys that carried `input`/`output`: not stored again with the raw attributes.
    io_keys: list[str] = field(default_factory=list)
