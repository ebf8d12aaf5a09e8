"""OpenAI Agents SDK spans as its three OTel bridges shape them: OpenInference, OpenLLMetry, Logfire.

The SDK's own traces are not OTel (they go to OpenAI's backend); what reaches us is one of:
- OI processor: AGENT spans with `agent.name` and `graph.node.id`, root `trace.name`;
- TL: `{name}.agent` / `{tool}.tool` / `Agent Workflow`, with `gen_ai.provider.name=openai`
  stamped on every span (so that key is never an LLM signal; see kinds.py);
- Logfire: span names are message templates (`Agent run: {name!r}`), the values sit in
  plain attributes (`name`, `input`, `output`, `group_id`) and in the formatted `logfire.msg`.
Sources: OI `_processor.py`, TL `openai_agents/_hooks.py`, LFR `integrations/openai_agents.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_text
from ingest.records import SpanKind

MESSAGE_TEMPLATE = "logfire.msg_template"
CONVENTION_LOGFIRE = "logfire"

# Rule 9, Logfire OpenAI-Agents part: the message template names the span data type.
_TEMPLATE_KINDS = (
    ("agent run:", SpanKind.AGENT),
    ("function:", SpanKind.TOOL),
    ("responses api", SpanKind.LLM),
    ("chat completion with", SpanKind.LLM),
    ("handoff:", SpanKind.HANDOFF),
    ("guardrail", SpanKind.GUARDRAIL),
    ("task:", SpanKind.CHAIN),
    ("turn", SpanKind.CHAIN),
    ("custom span", SpanKind.CHAIN),
)

# `Agent run: 'triage'` in the formatted message; the span name itself is the template.
_AGENT_RUN = re.compile(r"""^Agent run:\s*(['"]?)(.+)\1$""")


def _template(view: SpanView) -> str:
    return view.lower(MESSAGE_TEMPLATE)


def kind_from_logfire_template(view: SpanView) -> str | None:
    """Rule 9 (Logfire)."""
    template = _template(view)
    return next((kind for prefix, kind in _TEMPLATE_KINDS if template.startswith(prefix)), None)


def _logfire_name_if(prefix: str) -> Callable[[SpanView], str | None]:
    """The plain `name` attribute, but only on the Logfire span type whose template starts with `prefix`."""

    def logfire_name(view: SpanView) -> str | None:
        if not _template(view).startswith(prefix):
            return None
        return as_text(view.get("name"))

    return logfire_name


logfire_agent_name = _logfire_name_if("agent run")
logfire_function_name = _logfire_name_if("function:")
logfire_trace_name = _logfire_name_if("openai agents trace")


def logfire_group_id(view: SpanView) -> str | None:
    """`group_id` on Logfire's OpenAI-Agents trace span: the SDK's conversation grouping."""
    if not _template(view):
        return None
    return as_text(view.get("group_id"))


def graph_node_of_agent(view: SpanView) -> str | None:
    """`graph.node.id`, which the OI processor sets to the agent's name, read only on AGENT spans.

    Other frameworks put generated node ids there (`tool_weather_12345`, `strands_agent`).
    """
    if view.kind != SpanKind.AGENT:
        return None
    return as_text(view.get("graph.node.id"))


def agent_from_logfire_message(view: SpanView) -> str | None:
    """`Agent run: 'triage'` from `logfire.msg` (or a span named that way); templates are ignored."""
    for text in (as_text(view.get("logfire.msg")), view.name):
        match = _AGENT_RUN.match(text or "")
        if match and "{" not in match.group(2):
            return match.group(2).strip() or None
    return None
