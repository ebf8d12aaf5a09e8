"""Hand-built spans for rollup and query tests, stored through ingest_spans like real intake."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ingest import services
from ingest.records import RawSpan, SpanFields
from tenancy.models import ApiKey, Project

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def new_trace_id() -> str:
    return f"{next(_ids):032x}"


def new_span_id() -> str:
    return f"{next(_ids):016x}"


def span(
    trace_id: str,
    *,
    start: datetime,
    seconds: float = 1.0,
    span_id: str | None = None,
    parent: str = "",
    kind: str = "llm",
    name: str = "",
    agent: str = "",
    user: str = "",
    model: str = "",
    provider: str = "",
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost: Decimal | str | None = None,
    error: bool = False,
    error_type: str = "",
    error_message: str = "",
    tool: str = "",
) -> tuple[RawSpan, SpanFields]:
    end = start + timedelta(seconds=seconds)
    raw = RawSpan(
        trace_id=trace_id,
        span_id=span_id or new_span_id(),
        parent_span_id=parent,
        name=name or tool or model or kind,
        kind=0,
        start_ns=ns(start),
        end_ns=ns(end),
        attributes={},
        status_code=2 if error or error_type else 0,
    )
    fields = SpanFields(
        kind=kind,
        convention="test",
        display_name=raw.name,
        provider=provider,
        request_model=model,
        response_model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reported_cost=Decimal(cost) if cost is not None else None,
        tool_name=tool,
        is_error=error or bool(error_type),
        error_type=error_type,
        error_message=error_message,
        agent_name=agent,
        user_id=user,
    )
    return raw, fields


def agent_run(
    start: datetime,
    *,
    agent: str = "support-bot",
    user: str = "u-1",
    calls: list[tuple[str, str | None, float]] | None = None,
    tools: list[tuple[str, bool, float]] | None = None,
    failed: bool = False,
    seconds: float = 10.0,
) -> list[tuple[RawSpan, SpanFields]]:
    """A root agent span with LLM calls (model, cost, seconds) and tool calls (tool, error, seconds)."""
    trace_id, root = new_trace_id(), new_span_id()
    out = [
        span(
            trace_id,
            span_id=root,
            kind="agent",
            name=agent,
            agent=agent,
            user=user,
            start=start,
            seconds=seconds,
            error=failed,
        )
    ]
    offset = 0.0
    for model, cost, duration in calls or [("gpt-test", "0.01", 1.0)]:
        out.append(
            span(trace_id, parent=root, kind="llm", model=model, provider="openai", input_tokens=100, output_tokens=10,
                 cost=cost, start=start + timedelta(seconds=offset), seconds=duration, agent=agent, user=user)
        )  # fmt: skip
        offset += duration
    for tool, error, duration in tools or []:
        out.append(
            span(trace_id, parent=root, kind="tool", tool=tool, error=error, start=start + timedelta(seconds=offset),
                 seconds=duration, agent=agent, user=user)
        )  # fmt: skip
        offset += duration
    return out


def ingest(project: Project, items: list[tuple[RawSpan, SpanFields]], api_key: ApiKey | None = None) -> None:
    services.ingest_spans(api_key or project.api_keys.first(), items)
