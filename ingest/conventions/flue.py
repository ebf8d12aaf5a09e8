"""Flue (scope `@flue/opentelemetry`): kinds come from span-name prefixes.

Source: docs/conventions.md, "Span kinds", rule 9; Langfuse's `@flue/opentelemetry` branch.
"""

from __future__ import annotations

from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

SCOPE = "@flue/opentelemetry"


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 9 (Flue): `flue.tool.*` is a tool, `flue.task.*` an agent."""
    if view.scope != SCOPE:
        return None
    name = view.name.lower()
    if name.startswith("flue.tool."):
        return SpanKind.TOOL
    return SpanKind.AGENT if name.startswith("flue.task.") else None
