"""A project's own rule for naming its agents (pure), for libraries that export no agent name,
only the agent's class and method as span names (`SupportAgent.run`), or that group every agent of
a framework under one class name. The rule is a project setting (admin): an attribute whose value
names the agent, or a regular expression over span names whose first group (or whole match) does.
A name the rule gives wins over what the conventions read, for the span and for its run."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ingest.records import RawSpan, SpanFields, SpanKind


@dataclass(frozen=True)
class Rule:
    attribute: str
    span_name: re.Pattern[str] | None

    @classmethod
    def of(cls, attribute: str, span_name: str) -> Rule | None:
        if not attribute and not span_name:
            return None
        return cls(attribute, re.compile(span_name) if span_name else None)


def agent_name(rule: Rule, raw: RawSpan) -> str:
    """The agent this span names by the project's rule, or ""."""
    value = raw.attributes.get(rule.attribute) if rule.attribute else None
    if value not in (None, ""):
        return str(value)[:200]
    match = rule.span_name.search(raw.name) if rule.span_name else None
    if match is None:
        return ""
    named = match.group(1) if match.re.groups else match.group(0)
    return (named or "")[:200]


def apply(rule: Rule, raw: RawSpan, fields: SpanFields) -> SpanFields:
    """The span with the rule's agent name; a span the pattern names is an agent span, unless the
    conventions found it to be a call (LLM, tool, ...)."""
    name = agent_name(rule, raw)
    if not name:
        return fields
    by_span_name = rule.span_name is not None and not (rule.attribute and raw.attributes.get(rule.attribute))
    kind = SpanKind.AGENT if by_span_name and fields.kind in (SpanKind.SPAN, SpanKind.CHAIN) else fields.kind
    return dataclasses.replace(fields, agent_name=name, kind=kind, agent_by_rule=True)
