"""OpenLLMetry / Traceloop (`traceloop.*`, `llm.*` legacy): ≥0.5 (2026) and ≤0.49 (still deployed).

Source: traceloop/openllmetry `semconv_ai/__init__.py`, `MIGRATION.md`,
`traceloop-sdk/.../decorators/base.py`, `tracing.py` (docs/conventions.md, "Sources", tags TL, TL†).
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

SPAN_KIND = "traceloop.span.kind"
ENTITY_NAME = "traceloop.entity.name"

# Rule 4: decorator kinds (`unknown` continues), then the legacy request type (TL†).
_SPAN_KINDS = {
    "workflow": SpanKind.CHAIN,
    "task": SpanKind.CHAIN,
    "agent": SpanKind.AGENT,
    "tool": SpanKind.TOOL,
    "handoff": SpanKind.HANDOFF,
}
_REQUEST_TYPES = {
    "chat": SpanKind.LLM,
    "completion": SpanKind.LLM,
    "embedding": SpanKind.EMBEDDING,
    "rerank": SpanKind.RERANKER,
}

# Rule 10, OpenLLMetry part: decorator span names `{entity}.{kind}` and instrumented calls.
_NAME_SUFFIXES = (
    (".workflow", SpanKind.CHAIN),
    (".task", SpanKind.CHAIN),
    (".agent", SpanKind.AGENT),
    (".tool", SpanKind.TOOL),
    (".handoff", SpanKind.HANDOFF),
)
_LLM_SPAN_NAMES = frozenset({"openai.chat", "openai.response", "anthropic.chat"})


def kind_from_span_kind(view: SpanView) -> str | None:
    """Rule 4."""
    decorated = _SPAN_KINDS.get(view.lower(SPAN_KIND))
    requested = _REQUEST_TYPES.get(view.lower("llm.request.type"))
    return decorated or requested


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 10, OpenLLMetry part."""
    name = view.name.lower()
    if name in _LLM_SPAN_NAMES:
        return SpanKind.LLM
    return next(
        (kind for suffix, kind in _NAME_SUFFIXES if name.endswith(suffix) and len(name) > len(suffix)),
        None,
    )


def entity_name_if(kind: str) -> Callable[[SpanView], str | None]:
    """`traceloop.entity.name`, but only on a span whose `traceloop.span.kind` is `kind`.

    On other spans the entity is a workflow or task, not the agent or tool we look for.
    """

    def entity_name(view: SpanView) -> str | None:
        if view.lower(SPAN_KIND) != kind:
            return None
        value = view.get(ENTITY_NAME)
        return value if isinstance(value, str) else None

    entity_name.__name__ = f"entity_name_if_{kind}"
    return entity_name


def _name_before(view: SpanView, suffix: str) -> str | None:
    name = view.name
    if name.lower().endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)].strip() or None
    return None


def agent_from_span_name(view: SpanView) -> str | None:
    """`{name}.agent`."""
    return _name_before(view, ".agent")


def tool_from_span_name(view: SpanView) -> str | None:
    """`{name}.tool`."""
    return _name_before(view, ".tool")
