"""Google Agent Development Kit (scope `gcp.vertex.agent`).

ADK writes `gen_ai.system = "gcp.vertex.agent"` (a framework, not a provider; see
providers.py) and keeps its payloads under `gcp.vertex.agent.*`.
Source: docs/conventions.md, "Span kinds", rule 9; docs/conventions.md, "Tool call".
"""

from __future__ import annotations

from ingest.conventions.span_view import SpanView
from ingest.records import SpanKind

SCOPE = "gcp.vertex.agent"


def kind_from_span_name(view: SpanView) -> str | None:
    """Rule 9 (ADK): `call_llm`, `execute_tool {tool}`, `invoke_agent {agent}`."""
    if view.scope != SCOPE:
        return None
    name = view.name.lower()
    if name == "call_llm":
        return SpanKind.LLM
    if name.startswith("execute_tool"):
        return SpanKind.TOOL
    return SpanKind.AGENT if name.startswith("invoke_agent") else None
