"""pydantic-ai (scope `pydantic-ai`) and Logfire (scopes `logfire*`, `logfire.msg*` keys).

Source: pydantic/pydantic-ai `_instrumentation.py`, `models/instrumented.py`, `usage.py`
(v2.33 and v1.107); pydantic/logfire `integrations/llm_providers/*` (docs/conventions.md, "Sources", tags PAI, LFR).
Most PAI keys are plain OTel GenAI ones; this module holds what is particular to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_text
from ingest.records import SpanKind

SCOPE = "pydantic-ai"
AGENT_NAME = "agent_name"  # the run span, every version
DEFERRAL = "pydantic_ai.tool.deferral.name"
FAILURE_STAGE = "pydantic_ai.tool.failure_stage"
LOGFIRE_MESSAGE = "logfire.msg"
# Logfire since its usage refactor (logfire#1843-1847): the provider's usage object.
LOGFIRE_RAW_USAGE = "gen_ai.usage.raw"

# PAI ≥2 puts the agent run's usage under this prefix instead of `gen_ai.usage.`
# (`use_aggregated_usage_attribute_names`, default True): it repeats the children's usage.
AGGREGATED_PREFIX = "gen_ai.aggregated_usage."

# PAI v2-4 ended deferred/approval-required tool calls with these exceptions; v5 leaves status unset.
_DEFERRAL_EXCEPTIONS = ("CallDeferred", "ApprovalRequired")

_RUNNING_TOOL = re.compile(r"^running tool:\s*(.+)$", re.IGNORECASE)


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 9, pydantic-ai instrumentation v2 (the PAI ≤1.x default) names."""
    if view.scope != SCOPE:
        return None
    name = view.name.lower()
    if name == "agent run":
        return SpanKind.AGENT
    if name == "running tool":
        return SpanKind.TOOL
    return SpanKind.LLM if name.startswith("chat ") else None


def tool_from_message(view: SpanView) -> str | None:
    """`logfire.msg` `running tool: {name}` (PAI instrumentation v2)."""
    match = _RUNNING_TOOL.match(as_text(view.get(LOGFIRE_MESSAGE)) or "")
    if match is None:
        return None
    return match.group(1).strip() or None


def is_deferral(view: SpanView, exception_type: str) -> bool:
    """A deferred or approval-gated tool call is control flow, not a failure."""
    return view.has(DEFERRAL) or exception_type.endswith(_DEFERRAL_EXCEPTIONS)


@dataclass(frozen=True, slots=True)
class RawUsage:
    """A count inside Logfire's `gen_ai.usage.raw` (the provider's usage object, JSON).

    It is the only place Logfire keeps the cache breakdown. Peeked, not consumed.
    """

    path: tuple[str, ...]

    def __call__(self, view: SpanView) -> Any:
        if LOGFIRE_RAW_USAGE not in view.attributes:
            return None
        value: Any = view.peek_object(LOGFIRE_RAW_USAGE)
        for step in self.path:
            value = value.get(step) if isinstance(value, dict) else None
        return value


CACHE_READ_RAW = (
    RawUsage(("cache_read_input_tokens",)),  # Anthropic
    RawUsage(("prompt_tokens_details", "cached_tokens")),  # OpenAI chat
    RawUsage(("input_tokens_details", "cached_tokens")),  # OpenAI responses
)
CACHE_WRITE_RAW = (RawUsage(("cache_creation_input_tokens",)),)


def is_logfire(view: SpanView) -> bool:
    return view.scope.startswith("logfire")


def has_raw_usage(view: SpanView) -> bool:
    return view.peek(LOGFIRE_RAW_USAGE) not in (None, "")
