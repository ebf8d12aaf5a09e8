"""Firebase Genkit (scope `genkit-tracer`, `genkit:*` keys).

Source: Langfuse's `genkit-tracer` branches (docs/conventions.md, "Span kinds", rule 5; the
display name in docs/conventions.md, "Run and trace").
"""

from __future__ import annotations

from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

SUBTYPE = "genkit:metadata:subtype"

# Rule 5.
_SUBTYPE_KINDS = {
    "model": SpanKind.LLM,
    "background-model": SpanKind.LLM,
    "embedder": SpanKind.EMBEDDING,
    "tool": SpanKind.TOOL,
    "tool.v2": SpanKind.TOOL,
    "retriever": SpanKind.RETRIEVER,
    "evaluator": SpanKind.EVALUATOR,
}


def kind_from_subtype(view: SpanView) -> str | None:
    """Rule 5."""
    return _SUBTYPE_KINDS.get(view.lower(SUBTYPE))
