"""ingest.otlp: OTLP/HTTP bodies in, RawSpan / LogEvent out, OTLP replies back.

Protobuf payloads are built with the opentelemetry-proto classes, JSON payloads by hand
in the OTLP/JSON form (hex ids, int64 as strings), so each test shows the wire format.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ingest import otlp
from ingest.records import (
    DecodedLogs,
    DecodedTraces,
    LogEvent,
    RawSpan,
    Rejected,
    SpanEvent,
)

MAX_BYTES = 20 * 2**20
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
START = 1_700_000_000_123_456_789  # more digits than a float holds
END = START + 1_500_000_000

# One of every AnyValue type, nested both ways.
RICH_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.provider.name": "openai",
    "gen_ai.usage.input_tokens": 42,
    "big": 2**62 + 1,
    "negative": -7,
    "temperature": 0.25,
    "stream": True,
    "payload": b"\x00\xffbinary",
    "gen_ai.response.finish_reasons": ["stop", 1, 2.5, False],
    "nested": {"inner": {"deep": [1, {"k": "v"}]}, "empty": None},
    "unset": None,
}
RESOURCE = {"service.name": "support-bot", "deployment.environment.name": "prod"}


# --- payload builders ------------------------------------------------------------------


def proto_value(value: Any) -> common_pb2.AnyValue:
    """A plain Python value as a protobuf AnyValue (None stays unset)."""
    any_value = common_pb2.AnyValue()
    if isinstance(value, str):
        any_value.string_value = value
    elif isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, bytes):
        any_value.bytes_value = value
    elif isinstance(value, list):
        any_value.array_value.values.extend(proto_value(item) for item in value)
    elif isinstance(value, dict):
        any_value.kvlist_value.values.extend(proto_attributes(value))
    return any_value


def proto_attributes(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=proto_value(v)) for k, v in attributes.items()]


def proto_span(**fields: Any) -> trace_pb2.Span:
    attributes = fields.pop("attributes", {})
    span = trace_pb2.Span(
        trace_id=fields.pop("trace_id", TRACE_ID),
        span_id=fields.pop("span_id", SPAN_ID),
        name=fields.pop("name", "chat gpt-4o"),
        start_time_unix_nano=fields.pop("start_time_unix_nano", START),
        end_time_unix_nano=fields.pop("end_time_unix_nano", END),
        **fields,
    )
    span.attributes.extend(proto_attributes(attributes))
    return span


def proto_traces(
    *spans: trace_pb2.Span, resource: dict[str, Any] | None = None
) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(proto_attributes(resource or {}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "openinference.instrumentation.openai"
    scope_spans.scope.version = "0.1.20"
    scope_spans.spans.extend(spans)
    return request


def json_value(value: Any) -> dict[str, Any]:
    """A plain Python value as an OTLP/JSON AnyValue (int64 as a string)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [json_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_attributes(value)}}
    return {}


def json_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": json_value(v)} for k, v in attributes.items()]


def json_span(**fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TRACE_ID.hex(),
        "spanId": SPAN_ID.hex(),
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(END),
    }
    span.update(fields)
    return span


def json_traces(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": json_attributes(resource or {})},
                    "scopeSpans": [
                        {
                            "scope": {
                                "name": "openinference.instrumentation.openai",
                                "version": "0.1.20",
                            },
                            "spans": list(spans),
                        }
                    ],
                }
            ]
        }
    ).encode()


def decode_protobuf(body: bytes, **options: Any) -> DecodedTraces:
    options.setdefault("max_bytes", MAX_BYTES)
    return otlp.decode_traces(body, content_type=PROTOBUF, **options)


def decode_json(body: bytes, **options: Any) -> DecodedTraces:
    options.setdefault("max_bytes", MAX_BYTES)
    return otlp.decode_traces(body, content_type=JSON, **options)


def only_span(decoded: DecodedTraces) -> RawSpan:
    assert decoded.rejected == []
    assert len(decoded.spans) == 1
    return decoded.spans[0]


def rich_proto_request() -> trace_service_pb2.ExportTraceServiceRequest:
    span = proto_span(
        parent_span_id=PARENT_ID,
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        attributes=RICH_ATTRIBUTES,
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="boom"),
    )
    event = span.events.add(name="gen_ai.choice", time_unix_nano=END)
    event.attributes.extend(proto_attributes({"index": 0, "message": {"role": "assistant"}}))
    return proto_traces(span, resource=RESOURCE)


def rich_json_request() -> bytes:
    return json_traces(
        json_span(
            parentSpanId=PARENT_ID.hex(),
            kind=3,
            attributes=json_attributes(RICH_ATTRIBUTES),
            status={"code": 2, "message": "boom"},
            events=[
                {
                    "timeUnixNano": str(END),
                    "name": "gen_ai.choice",
                    "attributes": json_attributes({"index": 0, "message": {"role": "assistant"}}),
                }
            ],
        ),
        resource=RESOURCE,
    )


EXPECTED_RICH_SPAN = RawSpan(
    trace_id="5b8efff798038103d269b633813fc60c",
    span_id="eee19b7ec3c1b174",
    parent_span_id="eee19b7ec3c1b173",
    name="chat gpt-4o",
    kind=3,
    start_ns=START,
    end_ns=END,
    attributes=RICH_ATTRIBUTES,
    events=[SpanEvent("gen_ai.choice", END, {"index": 0, "message": {"role": "assistant"}})],
    status_code=2,
    status_message="boom",
    resource=RESOURCE,
    scope_name="openinference.instrumentation.openai",
    scope_version="0.1.20",
)


# --- the same trace in both encodings -----------------------------------------------------


class TestBothEncodings:
    def test_protobuf_decodes_every_field_and_any_value_type(self) -> None:
        span = only_span(decode_protobuf(rich_proto_request().SerializeToString()))

        assert span == EXPECTED_RICH_SPAN

    def test_json_decodes_every_field_and_any_value_type(self) -> None:
        span = only_span(decode_json(rich_json_request()))

        assert span == EXPECTED_RICH_SPAN

    def test_protobuf_and_json_give_identical_spans(self) -> None:
        from_protobuf = decode_protobuf(rich_proto_request().SerializeToString())
        from_json = decode_json(rich_json_request())

        assert from_protobuf == from_json

    def test_nanosecond_timestamps_keep_every_digit(self) -> None:
        body = json_traces(json_span(startTimeUnixNano="1700000000123456789"))

        assert only_span(decode_json(body)).start_ns == 1_700_000_000_123_456_789

    def test_values_are_plain_python_types(self) -> None:
        attributes = only_span(decode_json(rich_json_request())).attributes

        assert type(attributes["gen_ai.usage.input_tokens"]) is int
        assert type(attributes["temperature"]) is float
        assert type(attributes["payload"]) is bytes
        assert type(attributes["nested"]) is dict

    def test_each_span_gets_its_own_resource_dict(self) -> None:
        request = proto_traces(proto_span(), proto_span(span_id=PARENT_ID), resource=RESOURCE)
        first, second = decode_protobuf(request.SerializeToString()).spans

        first.resource["mutated"] = True

        assert "mutated" not in second.resource

    def test_spans_keep_the_resource_and_scope_of_their_own_block(self) -> None:
        request = proto_traces(proto_span(), resource={"service.name": "a"})
        other = request.resource_spans.add()
        other.resource.attributes.extend(proto_attributes({"service.name": "b"}))
        other_scope = other.scope_spans.add()
        other_scope.scope.name = "pydantic-ai"
        other_scope.spans.append(proto_span(span_id=PARENT_ID))

        first, second = decode_protobuf(request.SerializeToString()).spans

        assert (first.resource, first.scope_name) == (
            {"service.name": "a"},
            "openinference.instrumentation.openai",
        )
        assert (second.resource, second.scope_name, second.scope_version) == (
            {"service.name": "b"},
            "pydantic-ai",
            "",
        )

    def test_empty_protobuf_request_decodes_to_nothing(self) -> None:
        assert decode_protobuf(b"") == DecodedTraces([], [])

    def test_empty_json_request_decodes_to_nothing(self) -> None:
        assert decode_json(b"{}") == DecodedTraces([], [])
        assert decode_json(b'{"resourceSpans": []}') == DecodedTraces([], [])

    def test_traces_from_proto_serves_already_parsed_requests(self) -> None:
        decoded = otlp.traces_from_proto(rich_proto_request())

        assert decoded.spans == [EXPECTED_RICH_SPAN]


# --- OTLP/JSON leniency -------------------------------------------------------------------


class TestJsonLeniency:
    def test_hex_ids_are_case_insensitive(self) -> None:
        body = json_traces(json_span(traceId=TRACE_ID.hex().upper(), spanId=SPAN_ID.hex().upper()))

        span = only_span(decode_json(body))

        assert (span.trace_id, span.span_id) == (TRACE_ID.hex(), SPAN_ID.hex())

    @pytest.mark.parametrize(
        "encode",
        [
            base64.b64encode,
            base64.urlsafe_b64encode,
            lambda raw: base64.b64encode(raw).rstrip(b"="),
        ],
        ids=["standard", "urlsafe", "unpadded"],
    )
    def test_base64_ids_are_accepted(self, encode: Any) -> None:
        trace_id = bytes.fromhex("fbff" * 8)  # has + and / (or - and _) in base64
        body = json_traces(
            json_span(
                traceId=encode(trace_id).decode(),
                spanId=encode(SPAN_ID).decode(),
                parentSpanId=encode(PARENT_ID).decode(),
            )
        )

        span = only_span(decode_json(body))

        assert (span.trace_id, span.span_id, span.parent_span_id) == (
            trace_id.hex(),
            SPAN_ID.hex(),
            PARENT_ID.hex(),
        )

    def test_int64_as_numbers_or_strings(self) -> None:
        as_numbers = json_span(
            startTimeUnixNano=START,
            endTimeUnixNano=END,
            attributes=[{"key": "tokens", "value": {"intValue": 42}}],
        )
        as_strings = json_span(attributes=[{"key": "tokens", "value": {"intValue": "42"}}])

        assert decode_json(json_traces(as_numbers)) == decode_json(json_traces(as_strings))

    def test_doubles_accept_nan_and_infinity_strings(self) -> None:
        attributes = [
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "inf", "value": {"doubleValue": "Infinity"}},
            {"key": "-inf", "value": {"doubleValue": "-Infinity"}},
            {"key": "int", "value": {"doubleValue": 3}},
        ]

        decoded = only_span(decode_json(json_traces(json_span(attributes=attributes)))).attributes

        assert math.isnan(decoded["nan"])
        assert decoded["inf"] == math.inf
        assert decoded["-inf"] == -math.inf
        assert decoded["int"] == 3.0
        assert type(decoded["int"]) is float

    def test_enum_names_are_accepted(self) -> None:
        body = json_traces(json_span(kind="SPAN_KIND_CLIENT", status={"code": "STATUS_CODE_ERROR"}))

        span = only_span(decode_json(body))

        assert (span.kind, span.status_code) == (3, 2)

    def test_snake_case_keys_are_accepted(self) -> None:
        body = json.dumps(
            {
                "resource_spans": [
                    {
                        "resource": {
                            "attributes": [
                                {
                                    "key": "service.name",
                                    "value": {"string_value": "svc"},
                                }
                            ]
                        },
                        "scope_spans": [
                            {
                                "scope": {"name": "lib"},
                                "spans": [
                                    {
                                        "trace_id": TRACE_ID.hex(),
                                        "span_id": SPAN_ID.hex(),
                                        "parent_span_id": PARENT_ID.hex(),
                                        "name": "x",
                                        "start_time_unix_nano": str(START),
                                        "end_time_unix_nano": str(END),
                                        "attributes": [
                                            {"key": "n", "value": {"int_value": "1"}},
                                            {
                                                "key": "l",
                                                "value": {"array_value": {"values": [{"bool_value": True}]}},
                                            },
                                        ],
                                        "events": [{"time_unix_nano": str(END), "name": "e"}],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        ).encode()

        span = only_span(decode_json(body))

        assert span.parent_span_id == PARENT_ID.hex()
        assert (span.start_ns, span.end_ns) == (START, END)
        assert span.attributes == {"n": 1, "l": [True]}
        assert span.events == [SpanEvent("e", END, {})]
        assert span.resource == {"service.name": "svc"}

    def test_instrumentation_library_spans_is_an_alias_of_scope_spans(self) -> None:
        body = json.dumps(
            {
                "resourceSpans": [
                    {
                        "instrumentationLibrarySpans": [
                            {
                                "instrumentationLibrary": {
                                    "name": "old-lib",
                                    "version": "0.9",
                                },
                                "spans": [json_span()],
                            }
                        ]
                    }
                ]
            }
        ).encode()

        span = only_span(decode_json(body))

        assert (span.scope_name, span.scope_version) == ("old-lib", "0.9")

    def test_unknown_fields_are_ignored(self) -> None:
        span = json_span(futureField={"x": 1}, links=[], droppedAttributesCount=3, traceState="a=b")
        document = json.loads(json_traces(span))
        document["somethingNew"] = True
        document["resourceSpans"][0]["schemaUrl"] = "https://opentelemetry.io/schemas/1.26.0"

        assert len(decode_json(json.dumps(document).encode()).spans) == 1

    def test_attribute_map_takes_plain_json_values(self) -> None:
        attributes = {
            "gen_ai.request.model": "gpt-4o",
            "tokens": 42,
            "ratio": 0.5,
            "stream": False,
            "stop": ["\n", "END"],
            "metadata": {"user": "u1", "tags": ["a"]},
            "nothing": None,
        }

        span = only_span(decode_json(json_traces(json_span(attributes=attributes))))

        assert span.attributes == attributes

    def test_attribute_map_decodes_any_value_objects(self) -> None:
        attributes = {
            "tokens": {"intValue": "42"},
            "model": {"stringValue": "gpt-4o"},
            "plain": {"a": 1},
        }

        span = only_span(decode_json(json_traces(json_span(attributes=attributes))))

        assert span.attributes == {"tokens": 42, "model": "gpt-4o", "plain": {"a": 1}}

    def test_empty_any_value_is_none(self) -> None:
        attributes = [
            {"key": "empty", "value": {}},
            {"key": "missing"},
            {"key": "odd", "value": {"future": 1}},
        ]

        span = only_span(decode_json(json_traces(json_span(attributes=attributes))))

        assert span.attributes == {"empty": None, "missing": None, "odd": None}

    def test_all_zero_parent_id_means_root(self) -> None:
        span = only_span(decode_json(json_traces(json_span(parentSpanId="0" * 16))))

        assert span.parent_span_id == ""

    def test_missing_end_time_is_kept_as_zero(self) -> None:
        body = json_traces(
            {
                "traceId": TRACE_ID.hex(),
                "spanId": SPAN_ID.hex(),
                "startTimeUnixNano": str(START),
            }
        )

        assert only_span(decode_json(body)).end_ns == 0


# --- partial rejection ---------------------------------------------------------------------


class TestPartialRejection:
    @pytest.mark.parametrize(
        ("bad_span", "reason"),
        [
            (proto_span(trace_id=b"\x01" * 15), "trace id is 15 bytes, expected 16"),
            (proto_span(trace_id=bytes(16)), "trace id is all zeros"),
            (proto_span(trace_id=b""), "missing trace id"),
            (proto_span(span_id=bytes(8)), "span id is all zeros"),
            (proto_span(span_id=b"\x01" * 16), "span id is 16 bytes, expected 8"),
            (
                proto_span(parent_span_id=b"\x01" * 4),
                "parent span id is 4 bytes, expected 8 or none",
            ),
            (
                proto_span(start_time_unix_nano=0),
                "missing start time (startTimeUnixNano)",
            ),
        ],
        ids=[
            "short-trace-id",
            "zero-trace-id",
            "no-trace-id",
            "zero-span-id",
            "long-span-id",
            "short-parent-id",
            "no-start-time",
        ],
    )
    def test_a_bad_span_is_rejected_alone(self, bad_span: trace_pb2.Span, reason: str) -> None:
        good = [proto_span(span_id=bytes([0, 0, 0, 0, 0, 0, 0, n])) for n in (1, 2)]
        request = proto_traces(good[0], bad_span, good[1])

        decoded = decode_protobuf(request.SerializeToString())

        assert [span.span_id for span in decoded.spans] == [
            "0000000000000001",
            "0000000000000002",
        ]
        assert decoded.rejected == [Rejected(1, reason)]

    @pytest.mark.parametrize(
        ("bad_span", "reason"),
        [
            (
                json_span(traceId="zz" * 16),
                "traceId 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' is neither 32 hex digits nor base64 of 16 bytes",
            ),
            (
                json_span(traceId=SPAN_ID.hex()),
                "traceId 'eee19b7ec3c1b174' is neither 32 hex digits nor base64 of 16 bytes",
            ),
            (
                json_span(parentSpanId="not an id!"),
                "parentSpanId 'not an id!' is neither 16 hex digits nor base64 of 8 bytes",
            ),
            (json_span(traceId="00" * 16), "trace id is all zeros"),
            (json_span(spanId=42), "spanId must be a string, got 42"),
            (
                json_span(startTimeUnixNano="soon"),
                "startTimeUnixNano must be an integer or a decimal string, got 'soon'",
            ),
            (
                json_span(startTimeUnixNano="-5"),
                "startTimeUnixNano -5 is out of range for fixed64",
            ),
            (
                json_span(kind="SPAN_KIND_SIDEWAYS"),
                "kind 'SPAN_KIND_SIDEWAYS' is not a known enum name",
            ),
            (
                json_span(attributes=[{"key": "n", "value": {"intValue": "4.5"}}]),
                "attribute 'n': intValue must be an integer or a decimal string, got '4.5'",
            ),
            (
                json_span(attributes=[{"key": "n", "value": {"intValue": str(2**63)}}]),
                f"attribute 'n': intValue {2**63} is out of range for int64",
            ),
            (
                json_span(attributes=[{"key": "b", "value": {"boolValue": "yes"}}]),
                "attribute 'b': boolValue must be true or false, got 'yes'",
            ),
            (
                json_span(attributes=[{"key": "raw", "value": {"bytesValue": "!!"}}]),
                "attribute 'raw': bytesValue '!!' is not base64",
            ),
            (
                json_span(attributes="model=gpt-4o"),
                "attributes must be a list of {key, value} objects, got 'model=gpt-4o'",
            ),
            (
                json_span(attributes=[{"value": {"stringValue": "x"}}]),
                "attribute key must be a string, got None",
            ),
            ("not a span", "span must be a JSON object, got 'not a span'"),
        ],
        ids=[
            "non-hex-id",
            "short-hex-id",
            "non-base64-id",
            "zero-id",
            "numeric-id",
            "word-time",
            "negative-time",
            "unknown-kind",
            "fractional-int",
            "int-overflow",
            "string-bool",
            "bad-base64",
            "string-attributes",
            "keyless-attribute",
            "not-an-object",
        ],
    )
    def test_a_bad_json_span_is_rejected_alone(self, bad_span: Any, reason: str) -> None:
        decoded = decode_json(json_traces(json_span(), bad_span))

        assert len(decoded.spans) == 1
        assert decoded.rejected == [Rejected(1, reason)]

    def test_rejected_index_counts_across_resource_and_scope_blocks(self) -> None:
        request = proto_traces(proto_span(), proto_span(trace_id=b""))
        second_scope = request.resource_spans[0].scope_spans.add()
        second_scope.spans.append(proto_span(span_id=b""))
        second_resource = request.resource_spans.add().scope_spans.add()
        second_resource.spans.extend([proto_span(), proto_span(start_time_unix_nano=0)])

        decoded = decode_protobuf(request.SerializeToString())

        assert len(decoded.spans) == 2
        assert [item.index for item in decoded.rejected] == [1, 2, 4]

    def test_too_many_attributes_rejects_the_span(self) -> None:
        limits = otlp.Limits(max_attributes=3)
        crowded = proto_span(attributes={f"k{i}": i for i in range(4)})
        request = proto_traces(proto_span(attributes={"a": 1, "b": 2, "c": 3}), crowded)

        decoded = decode_protobuf(request.SerializeToString(), limits=limits)

        assert len(decoded.spans) == 1
        assert decoded.rejected == [Rejected(1, "4 attributes, over the limit of 3")]

    @pytest.mark.parametrize("value", ["x" * 11, b"x" * 11, ["ok", "x" * 11], {"deep": {"er": "x" * 11}}])
    def test_too_long_value_rejects_the_span_at_any_depth(self, value: Any) -> None:
        limits = otlp.Limits(max_value_length=10)
        request = proto_traces(
            proto_span(attributes={"ok": "x" * 10}),
            proto_span(attributes={"long": value}),
        )

        decoded = decode_protobuf(request.SerializeToString(), limits=limits)

        assert len(decoded.spans) == 1
        assert decoded.rejected[0].index == 1
        assert decoded.rejected[0].reason.startswith("attribute 'long': value of 11 ")
        assert decoded.rejected[0].reason.endswith(", over the limit of 10")

    def test_too_long_json_value_rejects_the_span(self) -> None:
        limits = otlp.Limits(max_value_length=10)
        body = json_traces(json_span(attributes=json_attributes({"long": "x" * 11})))

        decoded = decode_json(body, limits=limits)

        assert decoded.rejected == [Rejected(0, "attribute 'long': value of 11 characters, over the limit of 10")]

    @pytest.mark.parametrize(("max_depth", "container"), [(32, list), (8, dict)])
    def test_too_deep_nesting_rejects_the_span(self, max_depth: int, container: type) -> None:
        def nest(levels: int) -> Any:
            value: Any = "leaf"
            for _ in range(levels):
                value = [value] if container is list else {"k": value}
            return value

        limits = otlp.Limits(max_depth=max_depth)
        ok, deep = {"ok": nest(max_depth)}, {"deep": nest(max_depth + 1)}
        request = proto_traces(proto_span(attributes=ok), proto_span(attributes=deep))
        body = json_traces(
            json_span(attributes=json_attributes(ok)),
            json_span(attributes=json_attributes(deep)),
        )

        from_protobuf = decode_protobuf(request.SerializeToString(), limits=limits)
        from_json = decode_json(body, limits=limits)

        for decoded in (from_protobuf, from_json):
            assert decoded.spans[0].attributes == ok
            assert decoded.rejected == [Rejected(1, f"attribute 'deep': value nested deeper than {max_depth} levels")]

    def test_too_deep_map_form_attribute_rejects_the_span(self) -> None:
        deep: Any = 1
        for _ in range(5):
            deep = {"k": deep}
        body = json_traces(json_span(attributes={"deep": deep}))

        decoded = decode_json(body, limits=otlp.Limits(max_depth=4))

        assert decoded.rejected == [Rejected(0, "attribute 'deep': value nested deeper than 4 levels")]

    def test_bad_event_attributes_name_the_event(self) -> None:
        span = proto_span()
        span.events.add(name="gen_ai.choice").attributes.extend(proto_attributes({"text": "x" * 11}))

        decoded = decode_protobuf(
            proto_traces(span).SerializeToString(),
            limits=otlp.Limits(max_value_length=10),
        )

        assert decoded.rejected == [
            Rejected(
                0,
                "event 0 ('gen_ai.choice'): attribute 'text': value of 11 characters, over the limit of 10",
            )
        ]

    def test_bad_resource_rejects_only_the_spans_of_that_resource(self) -> None:
        request = proto_traces(proto_span(), proto_span(), resource={"huge": "x" * 11})
        request.resource_spans.add().scope_spans.add().spans.append(proto_span())

        decoded = decode_protobuf(request.SerializeToString(), limits=otlp.Limits(max_value_length=10))

        assert len(decoded.spans) == 1
        assert decoded.rejected == [
            Rejected(
                0,
                "resource: attribute 'huge': value of 11 characters, over the limit of 10",
            ),
            Rejected(
                1,
                "resource: attribute 'huge': value of 11 characters, over the limit of 10",
            ),
        ]

    def test_rejection_message_summarises_the_first_reasons(self) -> None:
        rejected = [Rejected(i, f"reason {i}") for i in range(7)]

        assert otlp.rejection_message([]) == ""
        assert otlp.rejection_message(rejected[:1]) == "1 span rejected (#0: reason 0)"
        assert otlp.rejection_message(rejected, noun="log record", shown=2) == (
            "7 log records rejected (#0: reason 0; #1: reason 1; and 5 more)"
        )


# --- whole-request errors --------------------------------------------------------------------


class TestRequestErrors:
    def test_truncated_protobuf_is_a_400(self) -> None:
        body = rich_proto_request().SerializeToString()

        with pytest.raises(otlp.MalformedBody) as caught:
            decode_protobuf(body[:-7])

        assert caught.value.status == 400
        assert "protobuf body could not be decoded as ExportTraceServiceRequest" in caught.value.message

    def test_garbage_protobuf_is_a_400(self) -> None:
        with pytest.raises(otlp.OtlpError) as caught:
            decode_protobuf(b"\xff\xff\xff\xff")

        assert caught.value.status == 400

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"{not json", "JSON body could not be parsed"),
            (b"", "JSON body could not be parsed"),
            (b"\xff\xfe\xfa", "JSON body could not be parsed"),
            (b"[1, 2]", "JSON body must be an object, got list"),
            (b'"resourceSpans"', "JSON body must be an object, got str"),
            (
                b'{"resourceSpans": {}}',
                "JSON body is not an OTLP traces export: resourceSpans must be a JSON list, got {}",
            ),
            (
                b'{"resourceSpans": [1]}',
                "JSON body is not an OTLP traces export: resourceSpans entry must be a JSON object, got 1",
            ),
            (
                b'{"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}',
                "JSON body is not an OTLP traces export: items must be a JSON list, got 3",
            ),
            (
                b"[" * 100_000 + b"]" * 100_000,
                "JSON body is nested too deeply to parse",
            ),
        ],
        ids=[
            "syntax",
            "empty",
            "not-utf8",
            "array",
            "string",
            "resource-not-list",
            "resource-not-object",
            "spans-not-list",
            "deep",
        ],
    )
    def test_invalid_json_is_a_400(self, body: bytes, message: str) -> None:
        with pytest.raises(otlp.MalformedBody) as caught:
            decode_json(body)

        assert caught.value.status == 400
        assert caught.value.message.startswith(message)

    @pytest.mark.parametrize("content_type", ["text/plain", "", "application/grpc", "multipart/form-data"])
    def test_unsupported_content_type_is_a_415(self, content_type: str) -> None:
        with pytest.raises(otlp.UnsupportedMediaType) as caught:
            otlp.decode_traces(b"{}", content_type=content_type, max_bytes=MAX_BYTES)

        assert caught.value.status == 415
        assert "application/x-protobuf or application/json" in caught.value.message

    @pytest.mark.parametrize(
        ("content_type", "expected"),
        [
            ("application/x-protobuf", "protobuf"),
            ("application/protobuf", "protobuf"),
            ("Application/X-Protobuf; charset=utf-8", "protobuf"),
            ("application/json", "json"),
            ("application/json; charset=utf-8", "json"),
        ],
    )
    def test_media_type_matches_by_substring(self, content_type: str, expected: str) -> None:
        assert otlp.media_type(content_type) == expected

    def test_otlp_errors_carry_status_and_message(self) -> None:
        error = otlp.BodyTooLarge("gzip body expands past the 20 MiB limit")

        assert isinstance(error, otlp.OtlpError)
        assert (error.status, error.message, str(error)) == (
            413,
            "gzip body expands past the 20 MiB limit",
            "gzip body expands past the 20 MiB limit",
        )


class TestWrongSignal:
    @pytest.mark.parametrize("tied_to_a_span", [False, True])
    def test_protobuf_logs_sent_to_the_traces_endpoint_is_a_400(self, tied_to_a_span: bool) -> None:
        ids = {"trace_id": TRACE_ID, "span_id": SPAN_ID} if tied_to_a_span else {}
        request = logs_service_pb2.ExportLogsServiceRequest()
        records = request.resource_logs.add().scope_logs.add().log_records
        records.add(time_unix_nano=START, severity_text="INFO", body=proto_value("hello"), **ids)
        records.add(observed_time_unix_nano=START, event_name="gen_ai.user.message", **ids)

        with pytest.raises(otlp.WrongSignal) as caught:
            decode_protobuf(request.SerializeToString())

        assert caught.value.status == 400
        assert caught.value.message.endswith(
            "this looks like an OTLP logs or metrics export sent to the traces endpoint"
        )

    def test_protobuf_metrics_sent_to_the_traces_endpoint_is_a_400(self) -> None:
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        metrics = request.resource_metrics.add().scope_metrics.add().metrics
        metric = metrics.add(name="gen_ai.client.token.usage", unit="{token}")
        metric.sum.data_points.add(as_int=5, start_time_unix_nano=START)

        with pytest.raises(otlp.WrongSignal):
            decode_protobuf(request.SerializeToString())

    def test_json_logs_sent_to_the_traces_endpoint_is_a_400(self) -> None:
        with pytest.raises(otlp.WrongSignal) as caught:
            decode_json(b'{"resourceLogs": [{"scopeLogs": []}]}')

        assert caught.value.message == (
            "JSON body has no resourceSpans but resourceLogs or resourceMetrics: it is not a traces export"
        )

    def test_json_traces_sent_to_the_logs_endpoint_is_a_400(self) -> None:
        with pytest.raises(otlp.WrongSignal):
            otlp.decode_logs(json_traces(json_span()), content_type=JSON, max_bytes=MAX_BYTES)

    @pytest.mark.parametrize("name", ["chat gpt-4o", ""])
    def test_protobuf_traces_sent_to_the_logs_endpoint_is_a_400(self, name: str) -> None:
        request = proto_traces(proto_span(name=name, attributes={"gen_ai.system": "openai"}))

        with pytest.raises(otlp.WrongSignal) as caught:
            otlp.decode_logs(request.SerializeToString(), content_type=PROTOBUF, max_bytes=MAX_BYTES)

        assert caught.value.message.endswith(
            "this looks like an OTLP traces or metrics export sent to the logs endpoint"
        )

    def test_truncated_protobuf_is_not_mistaken_for_another_signal(self) -> None:
        body = rich_proto_request().SerializeToString()[:-7]

        with pytest.raises(otlp.MalformedBody) as caught:
            decode_protobuf(body)

        assert not isinstance(caught.value, otlp.WrongSignal)

    def test_spans_that_merely_lack_ids_are_rejected_not_refused(self) -> None:
        request = proto_traces(proto_span(trace_id=b"", span_id=b""))

        decoded = decode_protobuf(request.SerializeToString())

        assert decoded.rejected == [Rejected(0, "missing trace id")]


# --- compression and size ----------------------------------------------------------------------


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


class TestCompression:
    @pytest.mark.parametrize(
        ("encoding", "compress"),
        [
            ("gzip", gzip.compress),
            ("GZIP", gzip.compress),
            ("x-gzip", gzip.compress),
            ("deflate", zlib.compress),
            ("deflate", raw_deflate),
            ("identity", lambda data: data),
            ("", lambda data: data),
            ("identity, gzip", gzip.compress),
        ],
        ids=[
            "gzip",
            "gzip-uppercase",
            "x-gzip",
            "deflate-zlib",
            "deflate-raw",
            "identity",
            "none",
            "identity-listed",
        ],
    )
    def test_content_encodings_decode_to_the_same_spans(self, encoding: str, compress: Any) -> None:
        body = rich_proto_request().SerializeToString()

        decoded = decode_protobuf(compress(body), content_encoding=encoding)

        assert decoded.spans == [EXPECTED_RICH_SPAN]

    def test_gzip_json_decodes(self) -> None:
        decoded = decode_json(gzip.compress(rich_json_request()), content_encoding="gzip")

        assert decoded.spans == [EXPECTED_RICH_SPAN]

    def test_concatenated_gzip_members_are_joined(self) -> None:
        body = json_traces(json_span())
        members = gzip.compress(body[:10]) + gzip.compress(body[10:])

        assert len(decode_json(members, content_encoding="gzip").spans) == 1

    def test_gzip_bomb_is_a_413_without_expanding_in_memory(self, gzip_bomb: bytes) -> None:
        tracemalloc.start()
        try:
            with pytest.raises(otlp.BodyTooLarge) as caught:
                decode_protobuf(gzip_bomb, content_encoding="gzip")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert caught.value.status == 413
        assert caught.value.message == "gzip body expands past the 20 MiB limit"
        assert peak < MAX_BYTES + 8 * 2**20

    def test_deflate_bomb_is_a_413(self) -> None:
        bomb = zlib.compress(bytes(2 * 2**20))

        with pytest.raises(otlp.BodyTooLarge) as caught:
            decode_protobuf(bomb, content_encoding="deflate", max_bytes=2**20)

        assert caught.value.message == "deflate body expands past the 1 MiB limit"

    def test_body_exactly_at_the_limit_is_accepted(self) -> None:
        body = json_traces(json_span())

        decoded = decode_json(gzip.compress(body), content_encoding="gzip", max_bytes=len(body))

        assert len(decoded.spans) == 1

    def test_compressed_body_over_the_limit_is_a_413(self) -> None:
        body = gzip.compress(bytes(range(256)) * 64, compresslevel=0)

        with pytest.raises(otlp.BodyTooLarge) as caught:
            decode_protobuf(body, content_encoding="gzip", max_bytes=1000)

        assert caught.value.status == 413
        assert caught.value.message == f"request body is {len(body)} bytes, over the 1000 bytes limit"

    def test_uncompressed_body_over_the_limit_is_a_413(self) -> None:
        with pytest.raises(otlp.BodyTooLarge):
            decode_json(json_traces(json_span()), max_bytes=10)

    @pytest.mark.parametrize(
        ("body", "encoding", "message"),
        [
            (b"not gzip at all", "gzip", "gzip body is corrupt"),
            (
                gzip.compress(b'{"resourceSpans": []}')[:-9],
                "gzip",
                "gzip body is truncated",
            ),
            (b"", "gzip", "gzip body is truncated"),
            (
                zlib.compress(b"{}") + b"junk",
                "deflate",
                "deflate body has trailing data after its end",
            ),
            (gzip.compress(b"{}") + b"junk", "gzip", "gzip body is corrupt"),
        ],
        ids=["garbage", "truncated", "empty", "deflate-trailing", "gzip-trailing"],
    )
    def test_bad_compression_is_a_400(self, body: bytes, encoding: str, message: str) -> None:
        with pytest.raises(otlp.MalformedBody) as caught:
            decode_json(body, content_encoding=encoding)

        assert caught.value.status == 400
        assert caught.value.message.startswith(message)

    @pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
    def test_unsupported_content_encoding_is_a_415(self, encoding: str) -> None:
        with pytest.raises(otlp.UnsupportedMediaType) as caught:
            decode_json(b"{}", content_encoding=encoding)

        assert caught.value.status == 415


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzipped to about 200 KB, built without holding the 200 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(2**20)
    parts = [compressor.compress(zeros) for _ in range(200)]
    return b"".join([*parts, compressor.flush()])


# --- logs ----------------------------------------------------------------------------------------


def proto_logs(*records: logs_pb2.LogRecord) -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    scope_logs.scope.name = "opentelemetry.instrumentation.openai_v2"
    scope_logs.log_records.extend(records)
    body: bytes = request.SerializeToString()
    return body


def json_logs(*records: Any) -> bytes:
    document = {"resourceLogs": [{"scopeLogs": [{"scope": {"name": "x"}, "logRecords": list(records)}]}]}
    return json.dumps(document).encode()


def decode_logs(body: bytes, content_type: str = PROTOBUF, **options: Any) -> DecodedLogs:
    return otlp.decode_logs(body, content_type=content_type, max_bytes=MAX_BYTES, **options)


USER_MESSAGE_BODY = {"content": "What is the weather?", "parts": [{"type": "text"}]}


class TestLogs:
    def test_event_name_field_names_the_event(self) -> None:
        record = logs_pb2.LogRecord(
            time_unix_nano=START,
            observed_time_unix_nano=END,
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            event_name="gen_ai.user.message",
            body=proto_value(USER_MESSAGE_BODY),
        )
        record.attributes.extend(proto_attributes({"gen_ai.system": "openai"}))

        decoded = decode_logs(proto_logs(record))

        assert decoded == DecodedLogs(
            events=[
                LogEvent(
                    trace_id=TRACE_ID.hex(),
                    span_id=SPAN_ID.hex(),
                    time_ns=START,
                    name="gen_ai.user.message",
                    attributes={"gen_ai.system": "openai"},
                    body=USER_MESSAGE_BODY,
                )
            ],
            rejected=[],
        )

    def test_event_name_attribute_names_the_event_when_the_field_is_empty(self) -> None:
        record = logs_pb2.LogRecord(observed_time_unix_nano=END)
        record.attributes.extend(proto_attributes({"event.name": "gen_ai.choice"}))

        (event,) = decode_logs(proto_logs(record)).events

        assert (
            event.name,
            event.time_ns,
            event.trace_id,
            event.span_id,
            event.body,
        ) == (
            "gen_ai.choice",
            END,
            "",
            "",
            None,
        )

    def test_json_logs_match_protobuf_logs(self) -> None:
        record = logs_pb2.LogRecord(
            time_unix_nano=START,
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            body=proto_value(USER_MESSAGE_BODY),
        )
        record.attributes.extend(proto_attributes({"event.name": "gen_ai.user.message"}))
        json_record = {
            "timeUnixNano": str(START),
            "traceId": TRACE_ID.hex(),
            "spanId": SPAN_ID.hex(),
            "body": json_value(USER_MESSAGE_BODY),
            "attributes": json_attributes({"event.name": "gen_ai.user.message"}),
        }

        assert decode_logs(proto_logs(record)) == decode_logs(json_logs(json_record), JSON)

    def test_json_event_name_and_observed_time(self) -> None:
        json_record = {
            "observedTimeUnixNano": str(END),
            "eventName": "gen_ai.tool.message",
        }

        (event,) = decode_logs(json_logs(json_record), JSON).events

        assert (event.name, event.time_ns) == ("gen_ai.tool.message", END)

    def test_zero_ids_mean_not_tied_to_a_span(self) -> None:
        record = logs_pb2.LogRecord(time_unix_nano=START, trace_id=bytes(16), span_id=bytes(8))

        (event,) = decode_logs(proto_logs(record)).events

        assert (event.trace_id, event.span_id) == ("", "")

    def test_invalid_ids_reject_the_record_alone(self) -> None:
        good = logs_pb2.LogRecord(time_unix_nano=START, event_name="ok")
        bad_trace = logs_pb2.LogRecord(time_unix_nano=START, trace_id=b"\x01" * 5)
        bad_span = {"timeUnixNano": str(START), "spanId": "xyz"}

        from_protobuf = decode_logs(proto_logs(good, bad_trace, good))
        from_json = decode_logs(json_logs({"timeUnixNano": "1", "eventName": "ok"}, bad_span), JSON)

        assert [event.name for event in from_protobuf.events] == ["ok", "ok"]
        assert from_protobuf.rejected == [Rejected(1, "trace id is 5 bytes, expected 16 or none")]
        assert from_json.rejected == [Rejected(1, "spanId 'xyz' is neither 16 hex digits nor base64 of 8 bytes")]

    def test_too_long_body_rejects_the_record(self) -> None:
        record = logs_pb2.LogRecord(time_unix_nano=START, body=proto_value({"content": "x" * 11}))

        decoded = decode_logs(proto_logs(record), limits=otlp.Limits(max_value_length=10))

        assert decoded.rejected == [Rejected(0, "body: value of 11 characters, over the limit of 10")]

    def test_empty_logs_request_decodes_to_nothing(self) -> None:
        assert decode_logs(b"") == DecodedLogs([], [])
        assert decode_logs(b"{}", JSON) == DecodedLogs([], [])

    def test_logs_from_proto_serves_already_parsed_requests(self) -> None:
        request = logs_service_pb2.ExportLogsServiceRequest.FromString(
            proto_logs(logs_pb2.LogRecord(event_name="gen_ai.choice"))
        )

        (event,) = otlp.logs_from_proto(request).events

        assert event.name == "gen_ai.choice"


# --- replies -----------------------------------------------------------------------------------


class TestResponses:
    def test_trace_success_is_empty(self) -> None:
        assert otlp.encode_trace_response(rejected=0, message="", as_json=False) == b""
        assert otlp.encode_trace_response(rejected=0, message="", as_json=True) == b"{}"

    def test_trace_partial_success_round_trips_as_protobuf(self) -> None:
        body = otlp.encode_trace_response(rejected=3, message="3 spans rejected", as_json=False)

        response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)

        assert response.HasField("partial_success")
        assert response.partial_success.rejected_spans == 3
        assert response.partial_success.error_message == "3 spans rejected"

    def test_trace_partial_success_as_otlp_json(self) -> None:
        body = otlp.encode_trace_response(rejected=3, message="3 spans rejected", as_json=True)

        assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans rejected"}}

    def test_warning_without_rejections_still_reports_partial_success(self) -> None:
        body = otlp.encode_trace_response(rejected=0, message="attributes truncated", as_json=False)

        response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)

        assert response.HasField("partial_success")
        assert response.partial_success.error_message == "attributes truncated"

    def test_logs_partial_success_round_trips(self) -> None:
        as_protobuf = otlp.encode_logs_response(rejected=2, message="bad ids", as_json=False)
        as_json = otlp.encode_logs_response(rejected=2, message="bad ids", as_json=True)

        response = logs_service_pb2.ExportLogsServiceResponse.FromString(as_protobuf)

        assert (
            response.partial_success.rejected_log_records,
            response.partial_success.error_message,
        ) == (2, "bad ids")
        assert json.loads(as_json) == {"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad ids"}}
        assert otlp.encode_logs_response(rejected=0, message="", as_json=True) == b"{}"

    def test_metrics_reply_is_an_empty_success(self) -> None:
        as_protobuf = otlp.encode_metrics_response(as_json=False)

        assert (
            metrics_service_pb2.ExportMetricsServiceResponse.FromString(as_protobuf).HasField("partial_success")
            is False
        )
        assert otlp.encode_metrics_response(as_json=True) == b"{}"

    def test_response_content_types_follow_the_request(self) -> None:
        assert otlp.RESPONSE_CONTENT_TYPES[otlp.media_type("application/json; charset=utf-8")] == "application/json"
        assert otlp.RESPONSE_CONTENT_TYPES[otlp.media_type("application/x-protobuf")] == "application/x-protobuf"


# --- robustness ----------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
otlp_keys = st.sampled_from(
    [
        "traceId",
        "spanId",
        "parentSpanId",
        "startTimeUnixNano",
        "kind",
        "status",
        "code",
        "attributes",
        "events",
        "key",
        "value",
        "stringValue",
        "intValue",
        "doubleValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
        "values",
    ]
)
span_like = st.dictionaries(otlp_keys, json_values, max_size=8)


class TestRobustness:
    @settings(max_examples=200, deadline=None)
    @given(
        body=st.binary(max_size=512),
        content_type=st.sampled_from([PROTOBUF, JSON]),
        content_encoding=st.sampled_from(["", "gzip", "deflate"]),
    )
    def test_arbitrary_bytes_decode_or_raise_otlp_error(
        self, body: bytes, content_type: str, content_encoding: str
    ) -> None:
        try:
            decoded = otlp.decode_traces(
                body,
                content_type=content_type,
                content_encoding=content_encoding,
                max_bytes=4096,
            )
        except otlp.OtlpError as error:
            assert error.status in (400, 413, 415)
        else:
            assert isinstance(decoded, DecodedTraces)

    @settings(max_examples=200, deadline=None)
    @given(spans=st.lists(span_like | json_values, max_size=4))
    def test_arbitrary_json_spans_decode_or_raise_otlp_error(self, spans: list[Any]) -> None:
        body = json_traces(*spans)
        try:
            decoded = decode_json(body)
        except otlp.OtlpError as error:
            assert error.status == 400
        else:
            assert len(decoded.spans) + len(decoded.rejected) == len(spans)
