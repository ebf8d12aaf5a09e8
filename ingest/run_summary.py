"""Pure: turn the spans of one trace into the run's summary (root, agent, status, totals).

Recomputed from all of a trace's spans every time some arrive, so the result is the same however
the spans are split over requests or ordered. Token/cost accounting follows docs/conventions.md, "One count per real operation":
only leaf LLM/embedding calls count, a call seen twice (same response id) counts once, and
wrapper spans that repeat their children's usage count only when a run has no LLM usage at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ingest.conventions.genai import guardrail_tripped
from ingest.records import SpanKind

USAGE_KINDS = {SpanKind.LLM, SpanKind.EMBEDDING}
# Names graph frameworks give their root when the user gave none: not an agent name.
GENERIC_ROOT_NAMES = {
    "langgraph",
    "runnablesequence",
    "agent workflow",
    "workflow",
    "chain",
    "root",
}


@dataclass(slots=True)
class SpanFacts:
    """The stored columns of a span that the run summary needs."""

    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    is_error: bool = False
    error_message: str = ""
    agent_name: str = ""
    user_id: str = ""
    session_id: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: Decimal | None = None
    response_id: str = ""
    request_model: str = ""
    scope_name: str = ""
    aggregated_usage: bool = False
    guardrail_verdict: str = ""
    run_hints: dict[str, Any] = field(default_factory=dict)

    @property
    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None or self.cost_usd is not None


@dataclass(slots=True)
class RunSummary:
    root_span_id: str
    has_root: bool
    name: str
    agent_name: str
    user_id: str
    session_id: str
    environment: str
    service_name: str
    tags: list[str]
    status: str  # "ok" | "error"
    error_message: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    span_count: int
    llm_calls: int
    failed_llm_calls: int
    tool_calls: int
    tool_errors: int
    guardrail_trips: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    unpriced_calls: int
    usage_span_ids: set[str]  # the spans whose usage and cost count in totals


def summarize(spans: list[SpanFacts]) -> RunSummary:
    by_id = {s.span_id: s for s in spans}
    root, has_root = _root(spans, by_id)
    depth = _depths(spans, by_id)
    ordered = sorted(spans, key=lambda s: (depth[s.span_id], s.start_time, s.span_id))
    usage_ids = usage_span_ids(spans, by_id)
    counted = [by_id[i] for i in sorted(usage_ids)]
    calls = counted_llm_calls(spans, by_id)
    tools = tool_calls(spans, by_id)
    failed = root.is_error or any(s.is_error for s in spans if s.kind == SpanKind.AGENT)
    start = min(s.start_time for s in spans)
    end = max(s.end_time for s in spans)
    priced = [s.cost_usd for s in counted if s.cost_usd is not None]
    return RunSummary(
        root_span_id=root.span_id,
        has_root=has_root,
        name=_run_name(root, ordered),
        agent_name=_agent_name(root, ordered),
        user_id=_first(s.user_id for s in ordered),
        session_id=_first(s.session_id for s in ordered),
        environment=_first(str(s.run_hints.get("environment") or "") for s in ordered),
        service_name=str(root.run_hints.get("service_name") or ""),
        tags=sorted({str(t) for s in spans for t in s.run_hints.get("tags") or []}),
        status="error" if failed else "ok",
        error_message=_error_message(root, ordered) if failed else "",
        start_time=start,
        end_time=end,
        duration_ms=(end - start).total_seconds() * 1000,
        span_count=len(spans),
        llm_calls=len(calls),
        failed_llm_calls=sum(1 for s in calls if s.is_error),
        tool_calls=len(tools),
        tool_errors=sum(1 for s in tools if s.is_error),
        guardrail_trips=guardrail_trips(spans, by_id),
        input_tokens=sum(s.input_tokens or 0 for s in counted),
        output_tokens=sum(s.output_tokens or 0 for s in counted),
        cache_read_tokens=sum(s.cache_read_tokens or 0 for s in counted),
        cache_write_tokens=sum(s.cache_write_tokens or 0 for s in counted),
        reasoning_tokens=sum(s.reasoning_tokens or 0 for s in counted),
        cost_usd=sum(priced, Decimal(0)) if priced else None,
        unpriced_calls=sum(1 for s in counted if s.cost_usd is None and s.kind == SpanKind.LLM),
        usage_span_ids=usage_ids,
    )


def usage_span_ids(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> set[str]:
    """Which spans' tokens and cost count: innermost LLM calls, one per response id."""
    leaves = [s for s in spans if s.kind in USAGE_KINDS and not s.aggregated_usage and s.has_usage]
    wrapping = _ancestors_of(leaves, by_id)
    chosen = _one_per_response_id([s for s in leaves if s.span_id not in wrapping])
    if chosen:
        return {s.span_id for s in chosen}
    # No LLM usage anywhere: fall back to the outermost spans that report aggregated usage.
    aggregated = [s for s in spans if s.has_usage and (s.aggregated_usage or s.kind not in USAGE_KINDS)]
    aggregated_ids = {s.span_id for s in aggregated}
    return {s.span_id for s in aggregated if not _ancestor_ids(s, by_id) & aggregated_ids}


def counted_llm_calls(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> list[SpanFacts]:
    """LLM spans that are calls (not wrappers of another LLM span, not a preparation step beside
    the call), a duplicated call once."""
    llm = [s for s in spans if s.kind == SpanKind.LLM]
    wrapping = _ancestors_of(llm, by_id)
    calls = [s for s in llm if s.span_id not in wrapping]
    return _one_per_response_id([s for s in calls if not _is_preparation(s, calls)])


def _is_preparation(span: SpanFacts, calls: list[SpanFacts]) -> bool:
    """An LLM-kind span that called no model: no usage, no response, no error, followed under the
    same parent by a real call (LlamaIndex's `OpenAI._prepare_chat_with_tools` before its
    `OpenAI.astream_chat`, via OpenInference)."""
    if span.has_usage or span.response_id or span.is_error:
        return False
    return any(
        other is not span
        and other.parent_span_id == span.parent_span_id
        and (other.has_usage or other.response_id or other.is_error)
        and other.start_time >= span.end_time
        for other in calls
    )


def tool_calls(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> list[SpanFacts]:
    """TOOL spans that are calls, each real call once (docs/conventions.md, "One count per real
    operation"): a tool span wrapping another tool span of the same agent step is not a call of
    its own (an `execute_tool` span around its MCP `tools/call` client span; a framework's merged
    span over parallel calls that each have their own span). A tool that runs an agent counts,
    and so do that agent's tools: an AGENT or LLM span between them ends the wrapping."""
    wrapping: set[str] = set()
    for span in spans:
        if span.kind != SpanKind.TOOL:
            continue
        parent, seen = span.parent_span_id, set()
        while parent in by_id and parent not in seen:
            seen.add(parent)
            above = by_id[parent]
            if above.kind in (SpanKind.AGENT, SpanKind.LLM):
                break
            if above.kind == SpanKind.TOOL:
                wrapping.add(above.span_id)
                break
            parent = above.parent_span_id
    return [s for s in spans if s.kind == SpanKind.TOOL and s.span_id not in wrapping]


TRIPWIRE = "Guardrail tripwire triggered"


def guardrail_trips(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> int:
    """Guardrail spans whose verdict is not a pass. OpenInference's OpenAI Agents bridge sends
    the guardrail span without its verdict; the SDK's "Guardrail tripwire triggered: {'guardrail':
    name}" error on the parent span says which one tripped (docs/conventions.md, "Guardrails")."""
    trips = 0
    for span in spans:
        if span.kind != SpanKind.GUARDRAIL:
            continue
        if span.guardrail_verdict:
            trips += guardrail_tripped(span.guardrail_verdict)
            continue
        parent = by_id.get(span.parent_span_id)
        message = parent.error_message if parent is not None and parent.is_error else ""
        trips += message.startswith(TRIPWIRE) and f"'{span.name}'" in message
    return trips


def _one_per_response_id(spans: list[SpanFacts]) -> list[SpanFacts]:
    """One span per LLM call when two instrumentations recorded it (e.g. a vendor SDK's own
    tracing next to an instrumentation library): same response id, or — when one of them has
    none (failed calls; instrumentations that record no id) — same parent and model, from
    another instrumentation scope, overlapping in time.
    The span with a cost, else the most tokens, is kept."""
    kept: list[SpanFacts] = []
    seen_ids: set[str] = set()
    for s in sorted(
        spans,
        key=lambda s: (
            s.cost_usd is None,
            -(s.input_tokens or 0),
            s.start_time,
            s.span_id,
        ),
    ):
        if (s.response_id and s.response_id in seen_ids) or any(_same_call(s, other) for other in kept):
            continue
        if s.response_id:
            seen_ids.add(s.response_id)
        kept.append(s)
    return kept


def _same_call(a: SpanFacts, b: SpanFacts) -> bool:
    return (
        not (a.response_id and b.response_id)
        and a.parent_span_id == b.parent_span_id
        and a.request_model == b.request_model
        and a.scope_name != b.scope_name
        and a.start_time <= b.end_time
        and b.start_time <= a.end_time
    )


def _ancestor_ids(span: SpanFacts, by_id: dict[str, SpanFacts]) -> set[str]:
    seen: set[str] = set()
    parent = span.parent_span_id
    while parent and parent in by_id and parent not in seen:
        seen.add(parent)
        parent = by_id[parent].parent_span_id
    return seen


def _ancestors_of(spans: Iterable[SpanFacts], by_id: dict[str, SpanFacts]) -> set[str]:
    out: set[str] = set()
    for s in spans:
        out |= _ancestor_ids(s, by_id)
    return out


def _root(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> tuple[SpanFacts, bool]:
    """The parentless (or explicitly root) span; else the earliest orphan, as Phoenix does."""
    key = lambda s: (s.start_time, s.span_id)  # noqa: E731
    roots = [s for s in spans if not s.parent_span_id or s.run_hints.get("is_root")]
    if roots:
        return min(roots, key=key), True
    orphans = [s for s in spans if s.parent_span_id not in by_id] or spans
    return min(orphans, key=key), False


def _depths(spans: list[SpanFacts], by_id: dict[str, SpanFacts]) -> dict[str, int]:
    return {s.span_id: len(_ancestor_ids(s, by_id)) for s in spans}


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def _run_name(root: SpanFacts, ordered: list[SpanFacts]) -> str:
    # A name given for the run (langfuse.trace.name, a workflow name) may sit on any span.
    return _first(str(s.run_hints.get("run_name") or "") for s in ordered) or root.name


def _agent_name(root: SpanFacts, ordered: list[SpanFacts]) -> str:
    """The user's name for the agent: the nearest agent span that names one; else the nearest
    agent span's own name; else an agent name other spans carry; else a user-given root name
    (a LangGraph graph's); else the service. Graph nodes the framework named are skipped."""
    agents = [s for s in ordered if s.kind == SpanKind.AGENT and not s.run_hints.get("framework_node")]
    agent = (
        _first(s.agent_name for s in ordered if s.run_hints.get("agent_by_rule"))  # the project's own rule
        or _first(s.agent_name for s in agents)
        or _first(s.name for s in agents)
        or _first(s.agent_name for s in ordered)
    )
    if agent:
        return agent
    if root.kind == SpanKind.CHAIN and root.name.strip().lower() not in GENERIC_ROOT_NAMES:
        return root.name  # e.g. a LangGraph graph compiled with name="support-graph"
    service = str(root.run_hints.get("service_name") or "")
    return "" if service.startswith("unknown_service") else service


def _error_message(root: SpanFacts, ordered: list[SpanFacts]) -> str:
    if root.is_error and root.error_message:
        return root.error_message
    return _first(s.error_message for s in ordered if s.is_error and s.kind == SpanKind.AGENT)
