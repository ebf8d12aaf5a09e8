"""Builders of OTLP requests (protobuf messages; JSON through json_format) carrying whatever text
a test wants in every place a span can hold text: name, attributes, messages, tool call, events,
exception, status, resource, user and session ids, and log records tied to the span."""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SECOND = 1_000_000_000
START = (time.time_ns() // (3600 * SECOND) - 2) * 3600 * SECOND  # two hours ago, on the hour: in every page's range


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=key_values(value)))
    return common_pb2.AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def span(
    trace_id: str,
    span_id: str,
    name: str,
    attributes: dict[str, Any],
    *,
    parent: str = "",
    start: int = START,
    seconds: float = 1.0,
    error: str = "",
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> trace_pb2.Span:
    message = trace_pb2.Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent) if parent else b"",
        name=name,
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(seconds * SECOND),
        attributes=key_values(attributes),
        events=[
            trace_pb2.Span.Event(name=n, time_unix_nano=start + 1, attributes=key_values(a)) for n, a in events or []
        ],
    )
    if error:
        message.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        message.status.message = error
    return message


def traces(
    spans: list[trace_pb2.Span], resource: dict[str, Any] | None = None, scope: str = "hostile-test"
) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    block = request.resource_spans.add()
    block.resource.attributes.extend(key_values(resource or {"service.name": "hostile-service"}))
    scope_block = block.scope_spans.add()
    scope_block.scope.name = scope
    scope_block.spans.extend(spans)
    return request


def logs(
    trace_id: str, span_id: str, records: list[tuple[str, dict[str, Any], Any]]
) -> logs_service_pb2.ExportLogsServiceRequest:
    """One log record per (event name, attributes, body), tied to the span."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    block = request.resource_logs.add()
    block.resource.attributes.extend(key_values({"service.name": "hostile-service"}))
    scope_block = block.scope_logs.add()
    scope_block.scope.name = "hostile-test"
    for offset, (event_name, attributes, body) in enumerate(records):
        scope_block.log_records.append(
            logs_pb2.LogRecord(
                time_unix_nano=START + offset,
                observed_time_unix_nano=START + offset,
                trace_id=bytes.fromhex(trace_id),
                span_id=bytes.fromhex(span_id),
                event_name=event_name,
                attributes=key_values(attributes),
                body=any_value(body),
            )
        )
    return request


def as_json(request: Any) -> bytes:
    """The OTLP/JSON form of a request (ids in base64, which the decoder accepts)."""
    return json.dumps(json_format.MessageToDict(request)).encode()


def agent_trace(trace_id: str, text: dict[str, str]) -> trace_service_pb2.ExportTraceServiceRequest:
    """A root agent span, an LLM call and a failing tool call (OTel GenAI conventions) whose every
    text slot is filled from `text` (keys: name, agent, user, session, tool, model, prompt,
    completion, argument, result, attribute_key, attribute_value, event, exception, status,
    resource, reasoning)."""
    root, llm, tool = "1000000000000001", "1000000000000002", "1000000000000003"
    shared = {"gen_ai.agent.name": text["agent"], "user.id": text["user"], "session.id": text["session"]}
    prompt = [
        {"role": "system", "parts": [{"type": "text", "content": "You are careful."}]},
        {"role": "user", "parts": [{"type": "text", "content": text["prompt"]}]},
    ]
    completion = [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": text["reasoning"]},
                {"type": "text", "content": text["completion"]},
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": text["tool"],
                    "arguments": {"query": text["argument"], "password": text["argument"]},
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]
    spans = [
        span(
            trace_id,
            root,
            text["name"],
            {
                **shared,
                "gen_ai.operation.name": "invoke_agent",
                "langfuse.trace.name": text["name"],
                "langfuse.trace.tags": [text["attribute_value"]],
                "gen_ai.input.messages": json.dumps(prompt),
                text["attribute_key"]: text["attribute_value"],
            },
            seconds=4,
            error=text["status"],
        ),
        span(
            trace_id,
            llm,
            f"chat {text['model']}",
            {
                **shared,
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": text["model"],
                "gen_ai.response.model": text["model"],
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.input.messages": json.dumps(prompt),
                "gen_ai.output.messages": json.dumps(completion),
                "http.request.header.authorization": [text["attribute_value"]],
                text["attribute_key"]: text["attribute_value"],
            },
            parent=root,
            seconds=2,
            events=[(text["event"], {"detail": text["attribute_value"]})],
        ),
        span(
            trace_id,
            tool,
            f"execute_tool {text['tool']}",
            {
                **shared,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": text["tool"],
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": json.dumps({"query": text["argument"]}),
                "gen_ai.tool.call.result": json.dumps({"answer": text["result"]}),
                "error.type": "ToolError",
            },
            parent=root,
            start=START + 2 * SECOND,
            seconds=1,
            error=text["status"],
            events=[
                (
                    "exception",
                    {
                        "exception.type": "ToolError",
                        "exception.message": text["exception"],
                        "exception.stacktrace": f"Traceback:\n  {text['exception']}",
                    },
                )
            ],
        ),
    ]
    return traces(spans, resource={"service.name": text["resource"], "deployment.environment.name": "prod"})
