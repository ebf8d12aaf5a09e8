"""The span normalizer: one `RawSpan` in any tracing convention → one `SpanFields`.

Pure (no Django). `normalize` never raises on odd attribute values: what cannot be read
is "not present". Where things live:

- kinds.py: rules 0-12 of docs/conventions.md, "Span kinds", one ordered table → kind + convention;
- concepts.py: per-concept priority lists, docs/conventions.md, "Priority lists", row by row;
- usage.py: tokens (inclusive/exclusive cache table, aggregated usage) and cost;
- errors.py: failure and its type/message;
- messages.py: input/output messages (`extract_io`);
- one module per dialect (langfuse, openinference, genai, traceloop, vercel_ai,
  pydantic_ai, openai_agents, genkit, livekit, adk, flue) for what is particular to it;
- span_view.py / values.py / providers.py: reading, coercion, provider names.

House style tries dialects in order; here the priority lists are per concept instead,
because the spec interleaves conventions within each concept (see concepts.py).
A new dialect is still a sibling module plus its rows in these lists and its tests.
"""

from __future__ import annotations

from ingest.conventions import concepts, errors, genai, kinds, langfuse, messages, usage
from ingest.conventions.span_view import SpanView
from ingest.records import RawSpan, SpanFields

__all__ = ["normalize"]


def normalize(span: RawSpan) -> SpanFields:
    """Everything AgentLedger understands of one span, plus the attribute keys it did not."""
    view = SpanView(span)
    view.kind, convention = kinds.classify(view)
    provider = concepts.provider(view)
    span_usage = usage.read_usage(view, provider)
    error = errors.read_error(view)
    tool = concepts.tool(view)
    io_input, io_output, io_keys = messages.extract_io(span, view.kind)
    return SpanFields(
        kind=view.kind,
        convention=convention,
        display_name=concepts.text(view, concepts.DISPLAY_NAME),
        operation=concepts.text(view, concepts.OPERATION),
        provider=provider,
        request_model=concepts.request_model(view),
        response_model=concepts.response_model(view),
        input_tokens=span_usage.input_tokens,
        output_tokens=span_usage.output_tokens,
        cache_read_tokens=span_usage.cache_read_tokens,
        cache_write_tokens=span_usage.cache_write_tokens,
        reasoning_tokens=span_usage.reasoning_tokens,
        aggregated_usage=span_usage.aggregated,
        usage_warnings=list(span_usage.warnings),
        modality_tokens=dict(span_usage.modalities),
        reported_cost=usage.read_cost(view),
        response_id=concepts.text(view, concepts.RESPONSE_ID),
        finish_reason=concepts.finish_reason(view, io_output),
        tool_name=tool.name,
        tool_call_id=tool.call_id,
        tool_arguments=tool.arguments,
        tool_result=tool.result,
        mcp_server=genai.mcp_server(view),
        guardrail_verdict=genai.guardrail_verdict(view),
        is_error=error.is_error,
        error_type=error.error_type,
        error_message=error.error_message,
        agent_name=concepts.text(view, concepts.AGENT_NAME),
        session_id=concepts.text(view, concepts.SESSION_ID),
        user_id=concepts.text(view, concepts.USER_ID),
        run_name=concepts.text(view, concepts.RUN_NAME),
        environment=concepts.text(view, concepts.ENVIRONMENT),
        tags=concepts.tags(view),
        is_root=langfuse.is_root(view),
        input=io_input,
        output=io_output,
        unmapped=_unmapped(view, io_keys),
        io_keys=sorted(io_keys) if io_input is not None or io_output is not None else [],
    )


def _unmapped(view: SpanView, io_keys: set[str]) -> list[str]:
    """Attribute keys that no rule read, for the raw metadata view."""
    understood = view.consumed | set(io_keys)
    return sorted(str(key) for key in view.attributes if key not in understood)
