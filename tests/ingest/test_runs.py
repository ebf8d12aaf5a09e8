"""The run summary computed from a trace's spans (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ingest.run_summary import SpanFacts, summarize

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def span(span_id, parent="", kind="span", start=0, end=1, **kw):
    return SpanFacts(span_id=span_id, parent_span_id=parent, name=kw.pop("name", span_id), kind=kind,
                     start_time=T0 + timedelta(seconds=start), end_time=T0 + timedelta(seconds=end), **kw)  # fmt: skip


def test_only_innermost_llm_calls_count():
    # A LangChain ChatModel span wrapping the OpenAI SDK span of the same call.
    spans = [span("a", kind="agent", agent_name="bot"), span("outer", "a", "llm", input_tokens=100, output_tokens=10),
             span("inner", "outer", "llm", input_tokens=100, output_tokens=10, cost_usd=Decimal("0.01"))]  # fmt: skip
    s = summarize(spans)
    assert (s.llm_calls, s.input_tokens, s.cost_usd) == (1, 100, Decimal("0.01"))
    assert s.usage_span_ids == {"inner"}


def test_duplicate_response_ids_count_once():
    spans = [span("a", kind="agent"), span("x", "a", "llm", input_tokens=50, response_id="r1"),
             span("y", "a", "llm", input_tokens=50, response_id="r1", scope_name="other")]  # fmt: skip
    assert (summarize(spans).llm_calls, summarize(spans).input_tokens) == (1, 50)


def test_parallel_calls_from_one_instrumentation_are_not_merged():
    spans = [span("a", kind="agent"), span("x", "a", "llm", request_model="m", input_tokens=5, start=0, end=2),
             span("y", "a", "llm", request_model="m", input_tokens=7, start=1, end=3)]  # fmt: skip
    assert (summarize(spans).llm_calls, summarize(spans).input_tokens) == (2, 12)


def test_aggregated_usage_counts_only_without_llm_usage():
    with_children = [
        span("a", kind="agent", input_tokens=300, aggregated_usage=True),
        span("c", "a", "llm", input_tokens=100),
    ]
    assert summarize(with_children).input_tokens == 100
    alone = [
        span("a", kind="agent", input_tokens=300, aggregated_usage=True),
        span("inner", "a", "chain", input_tokens=300, aggregated_usage=True),
    ]
    assert summarize(alone).input_tokens == 300, "the outermost aggregate only"


def test_a_recovered_tool_error_does_not_fail_the_run_but_a_failed_agent_does():
    spans = [
        span("a", kind="agent"),
        span("t", "a", "tool", is_error=True, error_message="boom"),
    ]
    assert (summarize(spans).status, summarize(spans).tool_errors) == ("ok", 1)
    spans[0] = span("a", kind="agent", is_error=True, error_message="agent crashed")
    assert (summarize(spans).status, summarize(spans).error_message) == (
        "error",
        "agent crashed",
    )


def test_nested_agent_failure_fails_the_run_even_when_the_root_is_ok():
    spans = [
        span("root", kind="chain"),
        span("a", "root", "agent", is_error=True, error_message="max turns"),
    ]
    assert summarize(spans).status == "error"


def test_without_a_parentless_span_the_earliest_orphan_is_the_root():
    spans = [
        span("late", parent="missing", start=5, end=6),
        span("early", parent="gone", start=1, end=9),
    ]
    s = summarize(spans)
    assert (s.root_span_id, s.has_root) == ("early", False)


def test_agent_name_prefers_the_named_agent_span_then_inherited_then_service():
    assert (
        summarize(
            [
                span("r", kind="agent", name="conversation"),
                span("a", "r", "agent", agent_name="weather-bot"),
            ]
        ).agent_name
        == "weather-bot"
    )
    assert (
        summarize(
            [
                span("r", kind="chain", name="LangGraph"),
                span("l", "r", "llm", agent_name="helper"),
            ]
        ).agent_name
        == "helper"
    )
    assert summarize([span("r", name="handle", run_hints={"service_name": "billing-svc"})]).agent_name == "billing-svc"
    assert (
        summarize(
            [
                span(
                    "r",
                    name="handle",
                    run_hints={"service_name": "unknown_service:python"},
                )
            ]
        ).agent_name
        == ""
    )


def test_unpriced_calls_leave_cost_empty_not_zero():
    s = summarize([span("a", kind="agent"), span("c", "a", "llm", input_tokens=10)])
    assert (s.cost_usd, s.unpriced_calls) == (None, 1)


def test_a_tool_span_around_its_mcp_call_counts_once_with_its_error():
    # The agent's `execute_tool lookup` span around the MCP client's `tools/call lookup`, which failed.
    spans = [span("a", kind="agent"), span("t", "a", "tool", is_error=True, name="execute_tool lookup"),
             span("mcp", "t", "tool", is_error=True, name="tools/call lookup"),
             span("srv", "mcp", "tool", is_error=True, name="tools/call lookup", scope_name="mcp-server")]  # fmt: skip
    assert (summarize(spans).tool_calls, summarize(spans).tool_errors) == (1, 1)


def test_a_merged_span_over_parallel_tool_calls_is_not_a_tool():
    spans = [span("a", kind="agent"), span("m", "a", "tool", name="execute_tool (merged)"),
             span("t1", "m", "tool", name="execute_tool get_weather"),
             span("t2", "m", "tool", name="execute_tool get_time", is_error=True)]  # fmt: skip
    assert (summarize(spans).tool_calls, summarize(spans).tool_errors) == (2, 1)


def test_a_tool_that_runs_an_agent_counts_beside_that_agents_tools():
    spans = [span("a", kind="agent"), span("t", "a", "tool", name="research"),
             span("sub", "t", "agent"), span("t2", "sub", "tool", name="search")]  # fmt: skip
    assert summarize(spans).tool_calls == 2


def test_a_preparation_step_beside_the_real_call_is_not_a_call():
    # LlamaIndex via OpenInference: `_prepare_chat_with_tools` (no tokens, no response), then the call.
    spans = [span("a", kind="agent"), span("prep", "a", "llm", start=0, end=1, request_model="gpt-4o-mini"),
             span("call", "a", "llm", start=1, end=3, request_model="gpt-4o-mini", input_tokens=120, output_tokens=25),
             span("prep2", "a", "llm", start=4, end=5), span("failed", "a", "llm", start=5, end=6, is_error=True)]  # fmt: skip
    assert (summarize(spans).llm_calls, summarize(spans).failed_llm_calls) == (2, 1)


def test_calls_that_record_nothing_still_count():
    spans = [span("a", kind="agent"), span("x", "a", "llm", start=0, end=1), span("y", "a", "llm", start=1, end=2)]
    assert summarize(spans).llm_calls == 2
