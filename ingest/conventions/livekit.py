"""LiveKit Agents (scope `livekit-agents`): kinds come only from span names.

Source: docs/conventions.md, "Span kinds", rule 9; livekit/agents tracing.
"""

from __future__ import annotations

from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

SCOPE_PREFIX = "livekit"

# Rule 9, LiveKit part.
_NAME_KINDS = {
    "agent_turn": SpanKind.AGENT,
    "start_agent_activity": SpanKind.AGENT,
    "function_tool": SpanKind.TOOL,
}


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 9 (LiveKit), gated by scope: these names are too generic to trust elsewhere."""
    if not view.scope.startswith(SCOPE_PREFIX):
        return None
    return _NAME_KINDS.get(view.name.lower())
