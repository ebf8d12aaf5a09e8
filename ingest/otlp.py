"""Decode OTLP export requests into `records` dataclasses, and encode OTLP replies.

Pure: no Django. The HTTP view calls `decode_traces` / `decode_logs` with the raw body
and headers; the gRPC servicer, which receives parsed messages, calls
`traces_from_proto` / `logs_from_proto`. Failures come in two sizes, kept apart:

* `OtlpError` (with `.status`) refuses the whole request: unsupported content type or
  encoding (415), too large (413), undecodable or wrong-signal body (400). OTLP clients
  do not retry a 400, 413 or 415.
* One bad span or log record (bad ids, no start time, over an attribute limit) becomes
  a `Rejected(index, reason)` and the rest of the request is kept, to be answered with
  an OTLP partial success.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ingest.records import (
    DecodedLogs,
    DecodedTraces,
    LogEvent,
    RawSpan,
    Rejected,
    SpanEvent,
)

MediaType = Literal["protobuf", "json"]

# The reply's Content-Type: OTLP/HTTP answers in the encoding of the request.
RESPONSE_CONTENT_TYPES: Mapping[MediaType, str] = {
    "protobuf": "application/x-protobuf",
    "json": "application/json",
}

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_END = 2**64
_INFLATE_CHUNK = 2**20
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")
_HEX_TEXT = re.compile(r"[0-9a-fA-F]*")
_SPAN_KINDS = dict(trace_pb2.Span.SpanKind.items())  # SPAN_KIND_CLIENT -> 3, ...
_STATUS_CODES = dict(trace_pb2.Status.StatusCode.items())  # STATUS_CODE_ERROR -> 2
_LOGS_SENT_AS_TRACES = "this looks like an OTLP logs or metrics export sent to the traces endpoint"
_TRACES_SENT_AS_LOGS = "this looks like an OTLP traces or metrics export sent to the logs endpoint"
_M = TypeVar("_M", bound=Message)
_Sized = TypeVar("_Sized", str, bytes)
_LENGTH_UNITS = {str: "characters", bytes: "bytes"}


# --- errors ------------------------------------------------------------------------


class OtlpError(Exception):
    """The whole request is refused; `status` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedBody(OtlpError):
    """The body cannot be decompressed or parsed as an OTLP export request (400)."""


class WrongSignal(MalformedBody):
    """The body is an export of another signal, e.g. logs sent to /v1/traces (400)."""


class UnsupportedMediaType(OtlpError):
    """A Content-Type or Content-Encoding we cannot read (415; RFC 9110 uses 415 for
    both)."""

    status = 415


class BodyTooLarge(OtlpError):
    """The body, compressed or decompressed, is over the configured limit (413)."""

    status = 413


class _InvalidItem(Exception):
    """One span or log record is unusable: it is rejected alone, the request goes on."""


# --- limits ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """Ceilings that keep one runaway span, event, log record or resource out of the
    database and the normalizer. An item over any of them is rejected on its own."""

    # Attributes on one item. Generous: OpenInference flattens every message of a long
    # conversation into its own attributes.
    max_attributes: int = 4096
    # Characters of one string value, or bytes of one bytesValue, at any depth.
    max_value_length: int = 4 * 1024 * 1024
    # Nested arrayValue / kvlistValue levels inside one value.
    max_depth: int = 32


DEFAULT_LIMITS = Limits()


def attributes_problem(attributes: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> str:
    """Why plain JSON attributes (the JSON API's) are over a limit, or "": the same limits and
    reasons as an OTLP span's, so both intakes refuse the same runaway span."""
    try:
        _check_attribute_count(len(attributes), limits)
        for key, value in attributes.items():
            _check_plain(value, limits, 0, f"attribute {key!r}: ")
    except _InvalidItem as exc:
        return str(exc)
    return ""


def value_problem(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """Why one plain JSON value (the JSON API's input or output) is over a limit, or ""."""
    try:
        _check_plain(value, limits, 0, "")
    except _InvalidItem as exc:
        return str(exc)
    return ""


def _check_plain(value: Any, limits: Limits, depth: int, where: str) -> None:
    try:
        if isinstance(value, str):
            _checked_length(value, limits)
        elif isinstance(value, list | dict):
            _check_depth(depth, limits)
            for item in value.values() if isinstance(value, dict) else value:
                _check_plain(item, limits, depth + 1, "")
    except _InvalidItem as exc:
        raise _InvalidItem(f"{where}{exc}") from None


# --- public API: content negotiation and decoding ------------------------------------


def media_type(content_type: str) -> MediaType:
    """The OTLP encoding named by a Content-Type header. Matches by substring because
    parameters such as `; charset=utf-8` are common."""
    lowered = content_type.lower()
    if "application/x-protobuf" in lowered or "application/protobuf" in lowered:
        return "protobuf"
    if "application/json" in lowered:
        return "json"
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type!r}: send application/x-protobuf or application/json"
    )


def decode_traces(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str = "",
    max_bytes: int,
    limits: Limits = DEFAULT_LIMITS,
) -> DecodedTraces:
    """Decode an OTLP/HTTP traces request body.

    Another signal's export sent here is refused with `WrongSignal` (400) and a message
    that says so, rather than answered with "every span rejected"; see
    `_traces_from_protobuf` for how protobuf gives it away. A JSON body names its
    signal: `resourceLogs` / `resourceMetrics` without `resourceSpans` is refused.
    """
    encoding = media_type(content_type)
    data = _decompress(body, content_encoding, max_bytes)
    if encoding == "json":
        return _traces_from_json(_parse_json(data), limits)
    return _traces_from_protobuf(data, limits)


def decode_logs(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str = "",
    max_bytes: int,
    limits: Limits = DEFAULT_LIMITS,
) -> DecodedLogs:
    """Decode an OTLP/HTTP logs request body into log events. A traces or metrics
    export sent here is refused with `WrongSignal` (400), as in `decode_traces`."""
    encoding = media_type(content_type)
    data = _decompress(body, content_encoding, max_bytes)
    if encoding == "json":
        return _logs_from_json(_parse_json(data), limits)
    return _logs_from_protobuf(data, limits)


def traces_from_proto(
    request: trace_service_pb2.ExportTraceServiceRequest,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> DecodedTraces:
    """RawSpans from a parsed request: the gRPC servicer's entry point. Never raises;
    every problem is per span and lands in `rejected`, indexed across the request."""
    spans: list[RawSpan] = []
    rejected: list[Rejected] = []
    items = _proto_items(request.resource_spans, "scope_spans", "spans", limits)
    for index, (origin, span) in enumerate(items):
        try:
            spans.append(_span_from_proto(span, origin, limits))
        except _InvalidItem as exc:
            rejected.append(Rejected(index, str(exc)))
    return DecodedTraces(spans, rejected)


def logs_from_proto(
    request: logs_service_pb2.ExportLogsServiceRequest,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> DecodedLogs:
    """LogEvents from a parsed request: the gRPC servicer's entry point. Never raises."""
    events: list[LogEvent] = []
    rejected: list[Rejected] = []
    items = _proto_items(request.resource_logs, "scope_logs", "log_records", limits)
    for index, (origin, record) in enumerate(items):
        try:
            events.append(_log_from_proto(record, origin, limits))
        except _InvalidItem as exc:
            rejected.append(Rejected(index, str(exc)))
    return DecodedLogs(events, rejected)


def _traces_from_protobuf(data: bytes, limits: Limits) -> DecodedTraces:
    """Protobuf does not name its signal, and the envelopes share field numbers. A logs
    export either fails to parse as traces (records with ids) or parses into spans
    with no ids and no start time; a metrics export parses into spans with no start
    time. Both are told apart from a merely broken request before answering."""
    try:
        request = _parse_protobuf(trace_service_pb2.ExportTraceServiceRequest, data)
    except MalformedBody:
        if _is_logs_export(data):
            raise WrongSignal(_LOGS_SENT_AS_TRACES) from None
        raise
    decoded = traces_from_proto(request, limits=limits)
    if not decoded.spans and decoded.rejected and not _any_span_started(request):
        raise WrongSignal(f"none of the {len(decoded.rejected)} spans has a start time: " + _LOGS_SENT_AS_TRACES)
    return decoded


def _logs_from_protobuf(data: bytes, limits: Limits) -> DecodedLogs:
    """The mirror of `_traces_from_protobuf`: a traces export read as logs fails to
    parse or yields records without any timestamp, which SDKs always set (at least
    observedTimeUnixNano)."""
    try:
        request = _parse_protobuf(logs_service_pb2.ExportLogsServiceRequest, data)
    except MalformedBody:
        if _is_traces_export(data):
            raise WrongSignal(_TRACES_SENT_AS_LOGS) from None
        raise
    decoded = logs_from_proto(request, limits=limits)
    received = len(decoded.events) + len(decoded.rejected)
    timestamped = any(event.time_ns for event in decoded.events)
    if received and not timestamped and not _any_log_timestamped(request):
        raise WrongSignal(f"none of the {received} log records has a timestamp: " + _TRACES_SENT_AS_LOGS)
    return decoded


def _is_logs_export(data: bytes) -> bool:
    """Only asked once the body failed as traces, so the extra parse is off the hot
    path."""
    try:
        request = logs_service_pb2.ExportLogsServiceRequest.FromString(data)
    except DecodeError:
        return False
    return _any_log_timestamped(request)


def _is_traces_export(data: bytes) -> bool:
    try:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        return False
    return _any_span_started(request)


def _any_span_started(request: trace_service_pb2.ExportTraceServiceRequest) -> bool:
    return any(
        span.start_time_unix_nano
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    )


def _any_log_timestamped(request: logs_service_pb2.ExportLogsServiceRequest) -> bool:
    return any(
        record.time_unix_nano or record.observed_time_unix_nano
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    )


# --- public API: replies -----------------------------------------------------------


def encode_trace_response(*, rejected: int, message: str, as_json: bool) -> bytes:
    """ExportTraceServiceResponse. partial_success only when something was rejected or
    there is a warning: the empty response is the plain success."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return _serialize(response, as_json=as_json)


def encode_logs_response(*, rejected: int, message: str, as_json: bool) -> bytes:
    """ExportLogsServiceResponse, with the same rules as `encode_trace_response`."""
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return _serialize(response, as_json=as_json)


def encode_metrics_response(as_json: bool) -> bytes:
    """An empty ExportMetricsServiceResponse. Metrics are accepted and dropped: their
    token counts repeat the spans' (docs/conventions.md, "One count per real operation")."""
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    return _serialize(response, as_json=as_json)


def rejection_message(rejected: Sequence[Rejected], *, noun: str = "span", shown: int = 5) -> str:
    """A partial success's `errorMessage`: the count and the first few reasons, short
    enough for an exporter's log line."""
    if not rejected:
        return ""
    details = "; ".join(f"#{item.index}: {item.reason}" for item in rejected[:shown])
    if len(rejected) > shown:
        details += f"; and {len(rejected) - shown} more"
    plural = "" if len(rejected) == 1 else "s"
    return f"{len(rejected)} {noun}{plural} rejected ({details})"


def _serialize(response: Message, *, as_json: bool) -> bytes:
    """OTLP/JSON is the proto3 JSON mapping (int64 as strings, defaults omitted), which
    is what json_format emits; replies are tiny, so its speed does not matter."""
    if as_json:
        document = json_format.MessageToDict(response)
        return json.dumps(document, separators=(",", ":")).encode()
    serialized: bytes = response.SerializeToString()
    return serialized


# --- bytes: size limit and Content-Encoding ------------------------------------------


def _decompress(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """Undo Content-Encoding (gzip, deflate or identity) within `max_bytes`."""
    if len(body) > max_bytes:
        raise BodyTooLarge(f"request body is {len(body)} bytes, over the {_size(max_bytes)} limit")
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return body
    if len(codings) > 1:
        raise UnsupportedMediaType(f"stacked Content-Encoding {content_encoding!r} is not supported")
    if codings[0] in ("gzip", "x-gzip"):
        return _inflate(body, "gzip", zlib.MAX_WBITS | 16, max_bytes)
    if codings[0] == "deflate":
        # HTTP "deflate" means zlib-wrapped, but many clients send raw deflate.
        wbits = zlib.MAX_WBITS if _has_zlib_header(body) else -zlib.MAX_WBITS
        return _inflate(body, "deflate", wbits, max_bytes)
    raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: use gzip, deflate or identity")


def _inflate(body: bytes, coding: str, wbits: int, max_bytes: int) -> bytes:
    """Decompress one chunk at a time, so a compression bomb stops just past
    `max_bytes` instead of filling memory. Concatenated gzip members are joined, as
    gzip(1) does."""
    output = bytearray()
    inflater = zlib.decompressobj(wbits)
    data = body
    while True:
        try:
            chunk = inflater.decompress(data, _INFLATE_CHUNK)
        except zlib.error as exc:
            raise MalformedBody(f"{coding} body is corrupt: {exc}") from None
        output += chunk
        if len(output) > max_bytes:
            raise BodyTooLarge(f"{coding} body expands past the {_size(max_bytes)} limit")
        data = inflater.unconsumed_tail
        if inflater.eof:
            data = inflater.unused_data
            if not data:
                return bytes(output)
            if coding != "gzip":
                raise MalformedBody(f"{coding} body has trailing data after its end")
            inflater = zlib.decompressobj(wbits)
        elif not data and len(chunk) < _INFLATE_CHUNK:
            raise MalformedBody(f"{coding} body is truncated")


def _has_zlib_header(body: bytes) -> bool:
    """RFC 1950: compression method 8 in the low nibble, and the first two bytes read
    as a big-endian number are a multiple of 31."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n and n % 2**20 == 0 else f"{n} bytes"


# --- parsing -----------------------------------------------------------------------


def _parse_protobuf(message_type: type[_M], data: bytes) -> _M:
    try:
        message: _M = message_type.FromString(data)
    except DecodeError as exc:
        raise MalformedBody(f"protobuf body could not be decoded as {message_type.__name__}: {exc}") from None
    return message


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise MalformedBody("JSON body is nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedBody(f"JSON body could not be parsed: {exc}") from None


@dataclass(slots=True)
class _Origin:
    """What a span or log record takes from its resource and scope blocks, decoded once
    per block."""

    resource: dict[str, Any]
    resource_error: str  # if set, every item of this resource is rejected with it
    scope_name: str
    scope_version: str


# --- protobuf ----------------------------------------------------------------------


def _proto_items(
    resource_blocks: Iterable[Any], scopes_field: str, items_field: str, limits: Limits
) -> Iterator[tuple[_Origin, Any]]:
    """Flatten resource → scope → item (span or log record), in request order."""
    for block in resource_blocks:
        try:
            resource, error = _proto_attributes(block.resource.attributes, limits), ""
        except _InvalidItem as exc:
            resource, error = {}, f"resource: {exc}"
        for scope_block in getattr(block, scopes_field):
            scope = scope_block.scope
            origin = _Origin(resource, error, scope.name, scope.version)
            for item in getattr(scope_block, items_field):
                yield origin, item


def _span_from_proto(span: trace_pb2.Span, origin: _Origin, limits: Limits) -> RawSpan:
    if origin.resource_error:
        raise _InvalidItem(origin.resource_error)
    trace_id = _required_id(span.trace_id, _TRACE_ID_BYTES, "trace id")
    span_id = _required_id(span.span_id, _SPAN_ID_BYTES, "span id")
    parent_id = _optional_id(span.parent_span_id, _SPAN_ID_BYTES, "parent span id")
    if not span.start_time_unix_nano:
        raise _InvalidItem("missing start time (startTimeUnixNano)")
    return RawSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=span.name,
        kind=span.kind,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=_proto_attributes(span.attributes, limits),
        events=[_event_from_proto(i, e, limits) for i, e in enumerate(span.events)],
        status_code=span.status.code,
        status_message=span.status.message,
        resource=dict(origin.resource),
        scope_name=origin.scope_name,
        scope_version=origin.scope_version,
    )


def _event_from_proto(position: int, event: trace_pb2.Span.Event, limits: Limits) -> SpanEvent:
    try:
        attributes = _proto_attributes(event.attributes, limits)
    except _InvalidItem as exc:
        raise _InvalidItem(f"event {position} ({event.name!r}): {exc}") from None
    return SpanEvent(name=event.name, time_ns=event.time_unix_nano, attributes=attributes)


def _log_from_proto(record: logs_pb2.LogRecord, origin: _Origin, limits: Limits) -> LogEvent:
    if origin.resource_error:
        raise _InvalidItem(origin.resource_error)
    attributes = _proto_attributes(record.attributes, limits)
    try:
        body = _proto_value(record.body, limits, 0)
    except _InvalidItem as exc:
        raise _InvalidItem(f"body: {exc}") from None
    return LogEvent(
        trace_id=_optional_id(record.trace_id, _TRACE_ID_BYTES, "trace id"),
        span_id=_optional_id(record.span_id, _SPAN_ID_BYTES, "span id"),
        time_ns=record.time_unix_nano or record.observed_time_unix_nano,
        name=record.event_name or _event_name_attribute(attributes),
        attributes=attributes,
        body=body,
        service_name=_service_name(origin),
    )


def _proto_attributes(key_values: Sequence[common_pb2.KeyValue], limits: Limits) -> dict[str, Any]:
    """KeyValues → dict. Short strings, most attributes, skip the general decoder: this
    loop runs for every attribute at 10,000 spans/s."""
    _check_attribute_count(len(key_values), limits)
    max_length = limits.max_value_length
    attributes: dict[str, Any] = {}
    for key_value in key_values:
        value = key_value.value
        if value.WhichOneof("value") == "string_value":
            text = value.string_value
            if len(text) <= max_length:
                attributes[key_value.key] = text
                continue
        try:
            attributes[key_value.key] = _proto_value(value, limits, 0)
        except _InvalidItem as exc:
            raise _InvalidItem(f"attribute {key_value.key!r}: {exc}") from None
    return attributes


def _proto_value(value: common_pb2.AnyValue, limits: Limits, depth: int) -> Any:
    """AnyValue → plain Python. `depth` counts the arrays/kvlists around the value."""
    match value.WhichOneof("value"):
        case "string_value":
            return _checked_length(value.string_value, limits)
        case "int_value":
            return value.int_value
        case "bool_value":
            return value.bool_value
        case "double_value":
            return value.double_value
        case "bytes_value":
            return _checked_length(value.bytes_value, limits)
        case "array_value":
            _check_depth(depth, limits)
            items = value.array_value.values
            return [_proto_value(item, limits, depth + 1) for item in items]
        case "kvlist_value":
            _check_depth(depth, limits)
            pairs = value.kvlist_value.values
            return {kv.key: _proto_value(kv.value, limits, depth + 1) for kv in pairs}
        case None:
            return None
        case other:  # string_value_strindex points into a profiles string table
            raise _InvalidItem(f"{other} is only meaningful in the profiles signal")


# --- JSON --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _JsonSignal:
    """The OTLP/JSON key names of one signal's envelope."""

    name: str
    resource_key: str  # "resourceSpans"
    scope_keys: tuple[str, ...]  # "scopeSpans", then pre-1.0 "instrumentationLibrarySpans"
    items_key: str  # "spans"
    other_signal_keys: tuple[str, ...]  # keys that give away another signal's export


_TRACES_JSON = _JsonSignal(
    name="traces",
    resource_key="resourceSpans",
    scope_keys=("scopeSpans", "instrumentationLibrarySpans"),
    items_key="spans",
    other_signal_keys=("resourceLogs", "resourceMetrics"),
)
_LOGS_JSON = _JsonSignal(
    name="logs",
    resource_key="resourceLogs",
    scope_keys=("scopeLogs", "instrumentationLibraryLogs"),
    items_key="logRecords",
    other_signal_keys=("resourceSpans", "resourceMetrics"),
)


def _traces_from_json(document: Any, limits: Limits) -> DecodedTraces:
    spans: list[RawSpan] = []
    rejected: list[Rejected] = []
    for index, (origin, item) in enumerate(_json_items(document, _TRACES_JSON, limits)):
        try:
            spans.append(_span_from_json(item, origin, limits))
        except _InvalidItem as exc:
            rejected.append(Rejected(index, str(exc)))
    return DecodedTraces(spans, rejected)


def _logs_from_json(document: Any, limits: Limits) -> DecodedLogs:
    events: list[LogEvent] = []
    rejected: list[Rejected] = []
    for index, (origin, item) in enumerate(_json_items(document, _LOGS_JSON, limits)):
        try:
            events.append(_log_from_json(item, origin, limits))
        except _InvalidItem as exc:
            rejected.append(Rejected(index, str(exc)))
    return DecodedLogs(events, rejected)


def _json_items(document: Any, signal: _JsonSignal, limits: Limits) -> Iterator[tuple[_Origin, Any]]:
    """Flatten resource → scope → item, in request order. A malformed envelope refuses
    the whole request, since its items cannot even be counted; items are checked by
    the caller."""
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise MalformedBody(f"JSON body must be an object, got {kind}")
    blocks = _get(document, signal.resource_key)
    if blocks is None and any(_get(document, k) for k in signal.other_signal_keys):
        raise WrongSignal(
            f"JSON body has no {signal.resource_key} but "
            f"{' or '.join(signal.other_signal_keys)}: it is not a {signal.name} export"
        )
    try:
        for block in _json_list(blocks, signal.resource_key):
            resource_block = _json_object(block, f"{signal.resource_key} entry")
            resource, error = _json_resource(resource_block, limits)
            scope_blocks = _first_present(resource_block, signal.scope_keys)
            for scope_block in _json_list(scope_blocks, "scope blocks"):
                scope_block = _json_object(scope_block, "scope block")
                origin = _json_origin(scope_block, resource, error)
                for item in _json_list(_get(scope_block, signal.items_key), "items"):
                    yield origin, item
    except _InvalidItem as exc:
        raise MalformedBody(f"JSON body is not an OTLP {signal.name} export: {exc}") from None


def _json_resource(block: Mapping[str, Any], limits: Limits) -> tuple[dict[str, Any], str]:
    """The resource's attributes, or the reason to reject every item under it."""
    try:
        resource = _json_object(_get(block, "resource"), "resource")
        return _json_attributes(_get(resource, "attributes"), limits), ""
    except _InvalidItem as exc:
        return {}, f"resource: {exc}"


def _json_origin(scope_block: Mapping[str, Any], resource: dict[str, Any], resource_error: str) -> _Origin:
    scope = _first_present(scope_block, ("scope", "instrumentationLibrary"))
    scope = _json_object(scope, "scope")
    name = _json_str(_get(scope, "name"), "scope name")
    version = _json_str(_get(scope, "version"), "scope version")
    return _Origin(resource, resource_error, name, version)


def _span_from_json(item: Any, origin: _Origin, limits: Limits) -> RawSpan:
    if origin.resource_error:
        raise _InvalidItem(origin.resource_error)
    span = _json_object(item, "span")
    trace_id = _required_id(_json_id(span, "traceId", _TRACE_ID_BYTES), _TRACE_ID_BYTES, "trace id")
    span_id = _required_id(_json_id(span, "spanId", _SPAN_ID_BYTES), _SPAN_ID_BYTES, "span id")
    parent_id = _optional_id(_json_id(span, "parentSpanId", _SPAN_ID_BYTES), _SPAN_ID_BYTES, "parent span id")
    start_ns = _json_uint64(_get(span, "startTimeUnixNano"), "startTimeUnixNano")
    if not start_ns:
        raise _InvalidItem("missing start time (startTimeUnixNano)")
    status = _json_object(_get(span, "status"), "status")
    events = _json_list(_get(span, "events"), "events")
    return RawSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=_json_str(_get(span, "name"), "name"),
        kind=_json_enum(_get(span, "kind"), _SPAN_KINDS, "kind"),
        start_ns=start_ns,
        end_ns=_json_uint64(_get(span, "endTimeUnixNano"), "endTimeUnixNano"),
        attributes=_json_attributes(_get(span, "attributes"), limits),
        events=[_event_from_json(i, e, limits) for i, e in enumerate(events)],
        status_code=_json_enum(_get(status, "code"), _STATUS_CODES, "status code"),
        status_message=_json_str(_get(status, "message"), "status message"),
        resource=dict(origin.resource),
        scope_name=origin.scope_name,
        scope_version=origin.scope_version,
    )


def _event_from_json(position: int, item: Any, limits: Limits) -> SpanEvent:
    event = _json_object(item, f"event {position}")
    name = _json_str(_get(event, "name"), f"event {position} name")
    try:
        time_ns = _json_uint64(_get(event, "timeUnixNano"), "timeUnixNano")
        attributes = _json_attributes(_get(event, "attributes"), limits)
    except _InvalidItem as exc:
        raise _InvalidItem(f"event {position} ({name!r}): {exc}") from None
    return SpanEvent(name=name, time_ns=time_ns, attributes=attributes)


def _log_from_json(item: Any, origin: _Origin, limits: Limits) -> LogEvent:
    if origin.resource_error:
        raise _InvalidItem(origin.resource_error)
    record = _json_object(item, "log record")
    trace_id = _optional_id(_json_id(record, "traceId", _TRACE_ID_BYTES), _TRACE_ID_BYTES, "trace id")
    span_id = _optional_id(_json_id(record, "spanId", _SPAN_ID_BYTES), _SPAN_ID_BYTES, "span id")
    time_ns = _json_uint64(_get(record, "timeUnixNano"), "timeUnixNano")
    observed = _json_uint64(_get(record, "observedTimeUnixNano"), "observedTimeUnixNano")
    attributes = _json_attributes(_get(record, "attributes"), limits)
    try:
        body = _json_any_value(_get(record, "body"), limits, 0)
    except _InvalidItem as exc:
        raise _InvalidItem(f"body: {exc}") from None
    event_name = _json_str(_get(record, "eventName"), "eventName")
    return LogEvent(
        trace_id=trace_id,
        span_id=span_id,
        time_ns=time_ns or observed,
        name=event_name or _event_name_attribute(attributes),
        attributes=attributes,
        body=body,
        service_name=_service_name(origin),
    )


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """A lowerCamelCase OTLP/JSON field, else its snake_case proto name (proto3 JSON
    parsers accept both). `null` counts as absent."""
    value = obj.get(key)
    return obj.get(_snake_case(key)) if value is None else value


def _first_present(obj: Mapping[str, Any], keys: Iterable[str]) -> Any:
    """The first alias present, current name before legacy name."""
    for key in keys:
        value = _get(obj, key)
        if value is not None:
            return value
    return None


@cache
def _snake_case(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _json_object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _InvalidItem(f"{what} must be a JSON object, got {_preview(value)}")
    return value


def _json_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _InvalidItem(f"{what} must be a JSON list, got {_preview(value)}")
    return value


def _json_str(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _InvalidItem(f"{what} must be a string, got {_preview(value)}")
    return value


def _json_integer(value: Any, what: str) -> int:
    """int64/fixed64 come as decimal strings (OTLP/JSON) or numbers. Strings never go
    through float, so nanosecond timestamps keep every digit."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise _InvalidItem(f"{what} must be an integer or a decimal string, got {_preview(value)}")


def _json_uint64(value: Any, what: str) -> int:
    if value is None:
        return 0
    number = _json_integer(value, what)
    if not 0 <= number < _UINT64_END:
        raise _InvalidItem(f"{what} {number} is out of range for fixed64")
    return number


def _json_enum(value: Any, names: Mapping[str, int], what: str) -> int:
    """Enums MUST be integers in OTLP/JSON, but the generic protobuf JSON mapping sends
    names such as SPAN_KIND_CLIENT."""
    if value is None:
        return 0
    if isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value):
        code = names.get(value.upper())
        if code is None:
            raise _InvalidItem(f"{what} {_preview(value)} is not a known enum name")
        return code
    return _json_integer(value, what)


def _json_id(obj: Mapping[str, Any], key: str, size: int) -> bytes:
    """OTLP/JSON ids are case-insensitive hex; exporters using the generic protobuf
    JSON mapping send base64 (opentelemetry-proto#500). Hex wins when the length
    fits, which is unambiguous: base64 of `size` bytes is never `2 * size` long."""
    value = _get(obj, key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _InvalidItem(f"{key} must be a string, got {_preview(value)}")
    if len(value) == 2 * size and _HEX_TEXT.fullmatch(value):
        return bytes.fromhex(value)
    try:
        raw = _base64(value)
    except ValueError:
        raw = None
    if raw is None or len(raw) not in (0, size):
        raise _InvalidItem(f"{key} {_preview(value)} is neither {2 * size} hex digits nor base64 of {size} bytes")
    return raw


def _base64(text: str) -> bytes:
    """Standard or URL-safe alphabet, with or without padding. Raises ValueError
    (binascii.Error is one)."""
    standard = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def _json_attributes(value: Any, limits: Limits) -> dict[str, Any]:
    """The spec's KeyValue list, or a `{key: value}` map as hand-rolled exporters send.
    Map values are plain JSON, except that a one-key AnyValue object such as
    `{"intValue": "3"}` is decoded as the AnyValue it is."""
    if value is None:
        return {}
    if isinstance(value, dict):
        _check_attribute_count(len(value), limits)
        return _decode_pairs(value.items(), _json_plain_value, limits)
    if isinstance(value, list):
        _check_attribute_count(len(value), limits)
        return _decode_pairs(_json_key_values(value), _json_any_value, limits)
    raise _InvalidItem(f"attributes must be a list of {{key, value}} objects, got {_preview(value)}")


def _decode_pairs(
    pairs: Iterable[tuple[str, Any]],
    decode: Callable[[Any, Limits, int], Any],
    limits: Limits,
) -> dict[str, Any]:
    """Decode each attribute value, naming the attribute in a rejection reason."""
    attributes: dict[str, Any] = {}
    for key, raw in pairs:
        try:
            attributes[key] = decode(raw, limits, 0)
        except _InvalidItem as exc:
            raise _InvalidItem(f"attribute {key!r}: {exc}") from None
    return attributes


def _json_key_values(items: list[Any]) -> Iterator[tuple[str, Any]]:
    for item in items:
        key_value = _json_object(item, "attribute")
        key = key_value.get("key")
        if not isinstance(key, str):
            raise _InvalidItem(f"attribute key must be a string, got {_preview(key)}")
        yield key, key_value.get("value")


def _json_any_value(value: Any, limits: Limits, depth: int) -> Any:
    """AnyValue object → plain Python. `{}`, or only unknown keys, is the empty value."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _InvalidItem(f"value must be an AnyValue object, got {_preview(value)}")
    text = value.get("stringValue")  # fast path for the most common value
    if type(text) is str and len(text) <= limits.max_value_length:
        return text
    for key, raw in value.items():
        decode = _ANY_VALUE_DECODERS.get(key)
        if decode is not None and raw is not None:
            return decode(raw, limits, depth)
    return None


def _json_plain_value(value: Any, limits: Limits, depth: int) -> Any:
    """A value of a map-form attribute: plain JSON, or a one-key AnyValue object."""
    if isinstance(value, str):
        return _checked_length(value, limits)
    if isinstance(value, list):
        _check_depth(depth, limits)
        return [_json_plain_value(item, limits, depth + 1) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _ANY_VALUE_DECODERS:
            return _json_any_value(value, limits, depth)
        _check_depth(depth, limits)
        return {k: _json_plain_value(v, limits, depth + 1) for k, v in value.items()}
    return value  # None, bool, int, float


def _any_string(raw: Any, limits: Limits, depth: int) -> str:
    return _checked_length(_json_str(raw, "stringValue"), limits)


def _any_bool(raw: Any, limits: Limits, depth: int) -> bool:
    if not isinstance(raw, bool):
        raise _InvalidItem(f"boolValue must be true or false, got {_preview(raw)}")
    return raw


def _any_int(raw: Any, limits: Limits, depth: int) -> int:
    number = _json_integer(raw, "intValue")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise _InvalidItem(f"intValue {number} is out of range for int64")
    return number


def _any_double(raw: Any, limits: Limits, depth: int) -> float:
    """A JSON number, or a string such as "NaN", "Infinity", "-Infinity" (proto3 JSON)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise _InvalidItem(f"doubleValue must be a number, got {_preview(raw)}")


def _any_bytes(raw: Any, limits: Limits, depth: int) -> bytes:
    text = _json_str(raw, "bytesValue")
    try:
        return _checked_length(_base64(text), limits)
    except ValueError:
        raise _InvalidItem(f"bytesValue {_preview(text)} is not base64") from None


def _any_array(raw: Any, limits: Limits, depth: int) -> list[Any]:
    _check_depth(depth, limits)
    values = _get(_json_object(raw, "arrayValue"), "values")
    return [_json_any_value(v, limits, depth + 1) for v in _json_list(values, "values")]


def _any_kvlist(raw: Any, limits: Limits, depth: int) -> dict[str, Any]:
    _check_depth(depth, limits)
    values = _json_list(_get(_json_object(raw, "kvlistValue"), "values"), "values")
    pairs = _json_key_values(values)
    return {key: _json_any_value(v, limits, depth + 1) for key, v in pairs}


_ANY_VALUE_DECODERS: dict[str, Callable[[Any, Limits, int], Any]] = {
    name: decoder
    for camel, decoder in (
        ("stringValue", _any_string),
        ("boolValue", _any_bool),
        ("intValue", _any_int),
        ("doubleValue", _any_double),
        ("bytesValue", _any_bytes),
        ("arrayValue", _any_array),
        ("kvlistValue", _any_kvlist),
    )
    for name in (camel, _snake_case(camel))
}


# --- checks shared by protobuf and JSON ---------------------------------------------


def _required_id(raw: bytes, size: int, what: str) -> str:
    if not raw:
        raise _InvalidItem(f"missing {what}")
    if len(raw) != size:
        raise _InvalidItem(f"{what} is {len(raw)} bytes, expected {size}")
    if raw == bytes(size):
        raise _InvalidItem(f"{what} is all zeros")
    return raw.hex()


def _optional_id(raw: bytes, size: int, what: str) -> str:
    """Parent span ids and log record ids: empty and all-zero both mean "none" (SDKs
    write zeros for an invalid context). Any other wrong length is an error."""
    if not raw:
        return ""
    if len(raw) != size:
        raise _InvalidItem(f"{what} is {len(raw)} bytes, expected {size} or none")
    return "" if raw == bytes(size) else raw.hex()


def _check_attribute_count(count: int, limits: Limits) -> None:
    if count > limits.max_attributes:
        raise _InvalidItem(f"{count} attributes, over the limit of {limits.max_attributes}")


def _check_depth(depth: int, limits: Limits) -> None:
    if depth >= limits.max_depth:
        raise _InvalidItem(f"value nested deeper than {limits.max_depth} levels")


def _checked_length(value: _Sized, limits: Limits) -> _Sized:
    if len(value) > limits.max_value_length:
        unit = _LENGTH_UNITS[type(value)]
        raise _InvalidItem(f"value of {len(value)} {unit}, over the limit of {limits.max_value_length}")
    return value


def _event_name_attribute(attributes: Mapping[str, Any]) -> str:
    """Before LogRecord.event_name existed, GenAI events named themselves with an
    `event.name` attribute."""
    name = attributes.get("event.name")
    return name if isinstance(name, str) else ""


def _service_name(origin: _Origin) -> str:
    name = origin.resource.get("service.name")
    return name if isinstance(name, str) else ""


def _preview(value: Any) -> str:
    """A short repr for reasons: a body can hold megabyte strings."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
