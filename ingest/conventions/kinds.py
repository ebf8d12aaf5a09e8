"""Span-kind classification: the ordered rules 0-12 of docs/conventions.md, "Span kinds", as one table.

Each rule lives in its dialect's module; this table only orders them, so a reviewer can
hold it next to that section. The first rule that yields a kind wins. Every rule is still
evaluated, so the keys each one inspects count as understood (not "unmapped") whichever
rule decides.

Anti-rules, kept by omission: no rule reads `gen_ai.agent.name` (inherited by tool and LLM
spans through PAI baggage and the TL context) or `gen_ai.provider.name` (stamped by TL
openai-agents on workflow, agent, handoff and tool spans), and the OTLP SpanKind
(CLIENT/INTERNAL) is not used: `invoke_agent` is either, so it cannot decide anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest.conventions import (
    adk,
    flue,
    genai,
    genkit,
    langfuse,
    livekit,
    openai_agents,
    openinference,
    pydantic_ai,
    traceloop,
    vercel_ai,
)
from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Rule:
    number: int  # the rule's number in docs/conventions.md, "Span kinds"
    convention: str  # reported as SpanFields.convention when this rule decides
    decide: Callable[[SpanView], str | None]


def _kind_from_bare_model(view: SpanView) -> str | None:
    """Rule 11, last key of Langfuse's list: a plain `model` attribute."""
    return SpanKind.LLM if view.has("model") else None


RULES: tuple[Rule, ...] = (
    Rule(0, "langfuse", langfuse.kind_from_sdk_quirk),
    Rule(1, "langfuse", langfuse.kind_from_observation_type),
    Rule(2, "openinference", openinference.kind_from_span_kind),
    Rule(3, "otel_genai", genai.kind_from_operation),
    Rule(3, "otel_genai", genai.kind_from_mcp_method),
    Rule(4, "traceloop", traceloop.kind_from_span_kind),
    Rule(5, "genkit", genkit.kind_from_subtype),
    Rule(6, "vercel_ai", vercel_ai.kind_from_model_call),
    Rule(7, "vercel_ai", vercel_ai.kind_from_other_operation),
    Rule(8, "otel_genai", genai.kind_from_tool_keys),
    Rule(9, "livekit", livekit.kind_from_span_name),
    Rule(9, "adk", adk.kind_from_span_name),
    Rule(9, "pydantic_ai", pydantic_ai.kind_from_span_name),
    Rule(9, "logfire", openai_agents.kind_from_logfire_template),
    Rule(9, "flue", flue.kind_from_span_name),
    Rule(10, "otel_genai", genai.kind_from_span_name),
    Rule(10, "traceloop", traceloop.kind_from_span_name),
    # Rule 11: retrieval/embedding keys first (more specific), then Langfuse's model order.
    Rule(11, "otel_genai", genai.kind_from_retrieval_keys),
    Rule(11, "langfuse", langfuse.kind_from_model_name),
    Rule(11, "otel_genai", genai.kind_from_model_keys),
    Rule(11, "openinference", openinference.kind_from_model_name),
    Rule(11, UNKNOWN, _kind_from_bare_model),
)


def classify(view: SpanView) -> tuple[str, str]:
    """(kind, convention) by the first rule that decides; rule 12 is (SPAN, "unknown")."""
    decided: tuple[str, str] | None = None
    for rule in RULES:
        kind = rule.decide(view)  # every rule runs, even after one decided (see the module docstring)
        if kind and decided is None:
            decided = (kind, rule.convention)
    return decided or (SpanKind.SPAN, UNKNOWN)
