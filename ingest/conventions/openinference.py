"""OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`): Arize's convention, also Phoenix's.

Source: Arize-ai/openinference `spec/semantic_conventions.md` and
`openinference-semantic-conventions/.../semconv/trace/__init__.py` (docs/conventions.md, "Sources", tag OI).
"""

from __future__ import annotations

from decimal import Decimal

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_cost
from ingest.records import SpanKind

SPAN_KIND = "openinference.span.kind"
MODEL_NAME = "llm.model_name"

# Rule 2. `UNKNOWN` is absent on purpose: it means "continue with the next rule".
_SPAN_KINDS = {
    "llm": SpanKind.LLM,
    "embedding": SpanKind.EMBEDDING,
    "chain": SpanKind.CHAIN,
    "retriever": SpanKind.RETRIEVER,
    "reranker": SpanKind.RERANKER,
    "tool": SpanKind.TOOL,
    "agent": SpanKind.AGENT,
    "guardrail": SpanKind.GUARDRAIL,
    "evaluator": SpanKind.EVALUATOR,
    "prompt": SpanKind.CHAIN,
}


def kind_from_span_kind(view: SpanView) -> str | None:
    """Rule 2, case-insensitive (`LLM` and `llm` are both seen, phoenix#14317)."""
    return _SPAN_KINDS.get(view.lower(SPAN_KIND))


def kind_from_model_name(view: SpanView) -> str | None:
    """Rule 11: `llm.model_name` means an LLM call."""
    return SpanKind.LLM if view.has(MODEL_NAME) else None


def cost_prompt_plus_completion(view: SpanView) -> Decimal | None:
    """`llm.cost.prompt` + `llm.cost.completion`, the last-resort cost; either alone counts (embeddings have no completion)."""
    amounts = [
        amount for key in ("llm.cost.prompt", "llm.cost.completion") if (amount := as_cost(view.get(key))) is not None
    ]
    return sum(amounts, Decimal(0)) if amounts else None
