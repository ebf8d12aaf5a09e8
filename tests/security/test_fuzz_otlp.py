"""Hostile input at intake, property-based (hypothesis): arbitrary and mutated OTLP payloads
(protobuf and JSON, traces and logs) and JSON API batches. The decoders raise nothing but the
documented OtlpError (400, 413, 415); the normalizer raises nothing; no endpoint answers 500;
a malformed span is rejected alone (OTLP partial success) and the rest of its batch stored;
each limit (request size, attribute count, value length, nesting depth) answers a clear error.

tests/ingest/test_otlp.py already fuzzes the traces decoder with arbitrary bytes and arbitrary
JSON spans, and tests/ingest/test_conventions.py the normalizer with arbitrary attributes; this
module adds the logs decoder, mutations of real captured payloads, well-formed messages with
arbitrary values, and every intake endpoint end to end. Example counts are bounded so the module
runs in well under a minute."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.test import TestCase, override_settings
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from aggregates import rollups
from ingest import conventions, otlp
from ingest.models import Run, Span
from tests.factories import make_project
from tests.ingest.test_conventions import KNOWN_KEYS
from tests.security import hostile

FIXTURES = Path(__file__).parent.parent / "fixtures" / "otlp"
TRACES = {path.name: path.read_bytes() for path in sorted(FIXTURES.glob("*.traces.pb"))}
LOGS = {path.name: path.read_bytes() for path in sorted(FIXTURES.glob("*.logs.pb"))}
PROTOBUF, JSON = "application/x-protobuf", "application/json"
MAX_BYTES = 4 * 2**20
QUICK = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=list(HealthCheck)
)
OTLP_ENDPOINTS = ["/v1/traces", "/v1/logs", "/v1/metrics", "/api/public/otel/v1/traces"]
DOCUMENTED = {200, 400, 413, 415}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _json(request: Any) -> Any:
    return json_format.MessageToDict(request)


TRACES_JSON = {name: _json(trace_service_pb2.ExportTraceServiceRequest.FromString(b)) for name, b in TRACES.items()}
LOGS_JSON = {name: _json(logs_service_pb2.ExportLogsServiceRequest.FromString(b)) for name, b in LOGS.items()}


# --- mutations ------------------------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, payloads: dict[str, bytes]) -> bytes:
    """A captured payload with a few bytes flipped, cut out, inserted, or the tail truncated."""
    data = bytearray(payloads[draw(st.sampled_from(sorted(payloads)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["flip", "delete", "insert", "truncate"])):
            case "flip":
                data[at] ^= draw(st.integers(1, 255))
            case "delete":
                del data[at : at + draw(st.integers(1, 16))]
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
            case "truncate":
                del data[at:]
    return bytes(data)


def _nodes(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _nodes(value, (*path, index))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, documents: dict[str, Any]) -> bytes:
    """A captured payload in OTLP/JSON with a few of its nodes replaced by arbitrary JSON."""
    document = json.loads(json.dumps(documents[draw(st.sampled_from(sorted(documents)))]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_nodes(document)))
        replacement = draw(json_values)
        if not path:
            document = replacement
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = replacement
    return json.dumps(document).encode()


any_values = st.deferred(
    lambda: (
        st.builds(common_pb2.AnyValue, string_value=st.text(max_size=30))
        | st.builds(common_pb2.AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
        | st.builds(common_pb2.AnyValue, double_value=st.floats())
        | st.builds(common_pb2.AnyValue, bool_value=st.booleans())
        | st.builds(common_pb2.AnyValue, bytes_value=st.binary(max_size=8))
        | st.builds(
            lambda values: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=values)),
            st.lists(any_values, max_size=3),
        )
        | st.builds(
            lambda pairs: common_pb2.AnyValue(
                kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key=k, value=v) for k, v in pairs])
            ),
            st.lists(st.tuples(st.text(max_size=8), any_values), max_size=3),
        )
    )
)
key_values = st.lists(
    st.builds(common_pb2.KeyValue, key=st.sampled_from(KNOWN_KEYS) | st.text(max_size=12), value=any_values),
    max_size=8,
)
ids = st.binary(max_size=18) | st.sampled_from([b"", bytes(8), bytes(16), b"\x01" * 8, b"\x02" * 16])
spans = st.builds(
    trace_pb2.Span,
    trace_id=ids,
    span_id=ids,
    parent_span_id=ids,
    name=st.text(max_size=20) | st.sampled_from(["chat gpt-4o", "execute_tool search", "invoke_agent a"]),
    kind=st.integers(0, 7),
    start_time_unix_nano=st.integers(0, 2**64 - 1),
    end_time_unix_nano=st.integers(0, 2**64 - 1),
    attributes=key_values,
    events=st.lists(st.builds(trace_pb2.Span.Event, name=st.text(max_size=10), attributes=key_values), max_size=2),
    status=st.builds(trace_pb2.Status, code=st.integers(0, 2), message=st.text(max_size=10)),
)


def _decode(body: bytes, content_type: str, signal: str = "traces", encoding: str = "") -> Any:
    decode = otlp.decode_traces if signal == "traces" else otlp.decode_logs
    try:
        return decode(body, content_type=content_type, content_encoding=encoding, max_bytes=MAX_BYTES)
    except otlp.OtlpError as error:
        assert error.status in (400, 413, 415)
        return None


# --- decoders and normalizer ------------------------------------------------------------------------


@QUICK
@given(
    body=st.binary(max_size=512),
    content_type=st.sampled_from([PROTOBUF, JSON]),
    encoding=st.sampled_from(["", "gzip", "deflate"]),
)
def test_arbitrary_bytes_to_the_logs_decoder_raise_only_documented_errors(
    body: bytes, content_type: str, encoding: str
) -> None:
    _decode(body, content_type, "logs", encoding)


@QUICK
@given(records=st.lists(json_values, max_size=4))
def test_arbitrary_json_log_records_are_each_decoded_or_rejected(records: list[Any]) -> None:
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}).encode()
    decoded = _decode(body, JSON, "logs")
    if decoded is not None:
        assert len(decoded.events) + len(decoded.rejected) <= len(records)


@QUICK
@given(body=mutated_bytes(TRACES))
def test_mutated_captured_protobuf_traces_decode_or_raise_documented_errors(body: bytes) -> None:
    decoded = _decode(body, PROTOBUF)
    for span in decoded.spans if decoded else []:
        assert len(span.trace_id) == 32 and len(span.span_id) == 16
        conventions.normalize(span)


@QUICK
@given(body=mutated_bytes(LOGS))
def test_mutated_captured_protobuf_logs_decode_or_raise_documented_errors(body: bytes) -> None:
    _decode(body, PROTOBUF, "logs")


@QUICK
@given(body=mutated_json(TRACES_JSON))
def test_mutated_captured_json_traces_decode_or_raise_documented_errors(body: bytes) -> None:
    decoded = _decode(body, JSON)
    for span in decoded.spans if decoded else []:
        conventions.normalize(span)


@QUICK
@given(body=mutated_json(LOGS_JSON))
def test_mutated_captured_json_logs_decode_or_raise_documented_errors(body: bytes) -> None:
    _decode(body, JSON, "logs")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(spans, min_size=1, max_size=5))
def test_well_formed_messages_with_arbitrary_values_are_decoded_span_by_span(batch: list[trace_pb2.Span]) -> None:
    """Any field value: each span is decoded or rejected alone, and what is decoded normalizes."""
    request = hostile.traces(batch)
    decoded = otlp.traces_from_proto(request)
    assert len(decoded.spans) + len(decoded.rejected) == len(batch)
    for span in decoded.spans:
        conventions.normalize(span)
    assert _decode(request.SerializeToString(), PROTOBUF) is not None or not decoded.spans


# --- endpoints --------------------------------------------------------------------------------------


@override_settings(AGENTLEDGER_KEY_RATE_LIMIT=10**9)
class EndpointFuzzTests(HypothesisTestCase):
    """Each example runs in its own transaction, through the test client, whose views raise rather
    than answer 500: any crash fails the example."""

    @classmethod
    def setUpTestData(cls):
        cls.project, cls.key = make_project()

    def post(self, path: str, body: bytes, content_type: str, **headers: Any):
        return self.client.post(
            path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {self.key}", **headers
        )

    @QUICK
    @given(
        path=st.sampled_from([*OTLP_ENDPOINTS, "/api/v1/ingest"]),
        body=st.binary(max_size=300) | mutated_bytes(TRACES) | mutated_json(TRACES_JSON) | mutated_json(LOGS_JSON),
        content_type=st.sampled_from([PROTOBUF, JSON, "text/plain", "application/x-protobuf; charset=utf-8"]),
        encoding=st.sampled_from(["", "gzip", "deflate", "br"]),
        compress=st.booleans(),
    )
    def test_no_endpoint_answers_500_to_any_body(
        self, path: str, body: bytes, content_type: str, encoding: str, compress: bool
    ) -> None:
        if compress and encoding == "gzip":
            body = gzip.compress(body)
        elif compress and encoding == "deflate":
            body = zlib.compress(body)
        headers = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
        response = self.post(path, body, content_type, **headers)
        assert response.status_code in DOCUMENTED, (response.status_code, response.content[:300])

    @QUICK
    @given(batch=json_values | st.fixed_dictionaries({"spans": st.lists(json_values, max_size=3)}))
    def test_the_json_api_answers_200_or_400_to_any_document(self, batch: Any) -> None:
        response = self.post("/api/v1/ingest", json.dumps(batch).encode(), JSON)
        assert response.status_code in (200, 400), (response.status_code, response.content[:300])

    @QUICK
    @given(
        spans_=st.lists(
            st.fixed_dictionaries(
                {
                    "trace_id": st.text(min_size=1, max_size=40),
                    "span_id": st.text(min_size=1, max_size=20),
                    "name": st.text(min_size=1, max_size=30),
                    "start_time": st.sampled_from(["2026-11-23T10:00:00Z", "0001-01-01T00:00:00Z", "x"]),
                },
                optional={
                    "kind": st.sampled_from(["llm", "tool", "agent", "nope"]),
                    "input_tokens": st.integers(-5, 2**70),
                    "cost_usd": st.sampled_from(["0.1", "999999999.9", "1e30", "-1", "NaN"]),
                    "model": st.text(max_size=10),
                    "input": json_values,
                    "output": json_values,
                    "attributes": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
                    "status": st.sampled_from(["ok", "error", "?"]),
                    "user_id": st.text(max_size=10),
                },
            ),
            min_size=1,
            max_size=4,
        )
    )
    def test_the_json_api_stores_or_refuses_any_span_batch(self, spans_: list[dict[str, Any]]) -> None:
        response = self.post("/api/v1/ingest", json.dumps({"spans": spans_}).encode(), JSON)
        assert response.status_code in (200, 400), (response.status_code, response.content[:300])

    @QUICK
    @given(
        name=st.sampled_from(sorted(TRACES)),
        position=st.integers(0, 10_000),
        fault=st.sampled_from(["span id", "trace id", "no start", "attributes", "nesting", "long value"]),
        as_json=st.booleans(),
    )
    def test_a_malformed_span_is_rejected_alone(self, name: str, position: int, fault: str, as_json: bool) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(TRACES[name])
        every = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        bad = every[position % len(every)]
        _corrupt(bad, fault)
        body = json.dumps(_json(request)).encode() if as_json else request.SerializeToString()
        response = self.post("/v1/traces", body, JSON if as_json else PROTOBUF)
        assert response.status_code == 200
        reply = trace_service_pb2.ExportTraceServiceResponse()
        if as_json:
            json_format.Parse(response.content or b"{}", reply)
        else:
            reply.ParseFromString(response.content)
        assert reply.partial_success.rejected_spans == 1, reply
        stored = set(Span.objects.filter(project=self.project).values_list("span_id", flat=True))
        kept = {s.span_id.hex() for s in every if s is not bad}
        assert stored == kept


def _corrupt(span: trace_pb2.Span, fault: str) -> None:
    limits = otlp.DEFAULT_LIMITS
    match fault:
        case "span id":
            span.span_id = b"\x01\x02\x03"
        case "trace id":
            span.trace_id = bytes(16)
        case "no start":
            span.start_time_unix_nano = 0
        case "attributes":
            span.attributes.extend(hostile.key_values({f"k{i}": i for i in range(limits.max_attributes + 1)}))
        case "nesting":
            value: Any = "deep"
            for _ in range(limits.max_depth + 1):
                value = [value]
            span.attributes.extend(hostile.key_values({"deep": value}))
        case "long value":
            span.attributes.extend(hostile.key_values({"long": "x" * (limits.max_value_length + 1)}))


class HostileNumberTests(TestCase):
    """Token counts and costs at the edge of what a span may carry, summed over a run and an hour:
    the batch is stored (totals saturate at what the columns hold) and the rollups, score rollups
    included, complete. They used to fail the whole batch with 500 (a run's cost over
    NUMERIC(20,10)), and on PostgreSQL the scored run's hour never rolled up (NUMERIC(18,10))."""

    def test_huge_counts_and_costs_are_stored_and_rolled_up(self):
        project, key = make_project()
        trace = "5b8efff798038103d269b633813fc60c"
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 2**63 - 1,
            "gen_ai.usage.output_tokens": 2**63 - 1,
        }
        batch = [hostile.span(trace, f"{n + 1:016x}", "chat gpt-4o", attributes) for n in range(3)]
        batch += [
            hostile.span(trace, f"{n + 10:016x}", "chat x", {"gen_ai.operation.name": "chat", "gen_ai.usage.cost": 999_999_999})
            for n in range(12)
        ]  # fmt: skip
        evaluation = {"gen_ai.evaluation.name": "helpful", "gen_ai.evaluation.score.value": 1.0}
        batch[0].events.add(name="gen_ai.evaluation.result", attributes=hostile.key_values(evaluation))  # a scored run
        response = self.client.post(
            "/v1/traces",
            hostile.traces(batch).SerializeToString(),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200
        assert Span.objects.filter(project=project).count() == 15
        run = Run.objects.get(project=project)
        assert run.input_tokens == 2**63 - 1
        assert run.cost_usd == Decimal("9999999999")
        rollups.rollup_until_current()


# --- limits: each with a clear error ---------------------------------------------------------------


class LimitTests(TestCase):
    """Request size, attribute count, value length and nesting depth: OTLP refuses the request
    (413) or the one span (partial success, the reason named); the JSON API answers 413 or 400
    naming the field."""

    def setUp(self):
        self.project, self.key = make_project()
        self.limits = otlp.DEFAULT_LIMITS

    def post(self, path: str, body: bytes, content_type: str = PROTOBUF):
        return self.client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {self.key}")

    def otlp_reason(self, attributes: dict[str, Any]) -> str:
        good = hostile.span("5b8efff798038103d269b633813fc60c", "1000000000000001", "ok", {})
        bad = hostile.span("5b8efff798038103d269b633813fc60c", "1000000000000002", "bad", attributes)
        response = self.post("/v1/traces", hostile.traces([good, bad]).SerializeToString())
        assert response.status_code == 200
        reply = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
        assert reply.partial_success.rejected_spans == 1
        assert list(Span.objects.values_list("span_id", flat=True)) == ["1000000000000001"]
        return reply.partial_success.error_message

    def api_errors(self, **span: Any) -> dict[str, list[str]]:
        body = {"trace_id": "t", "span_id": "s", "name": "n", "start_time": "2026-11-23T10:00:00Z", **span}
        before = Span.objects.count()
        response = self.post("/api/v1/ingest", json.dumps({"spans": [body]}).encode(), JSON)
        assert response.status_code == 400
        assert Span.objects.count() == before
        return response.json()["errors"]

    def test_request_size(self):
        with self.settings(AGENTLEDGER_MAX_REQUEST_BYTES=10_000):
            otlp_reply = self.post("/v1/traces", b"\n" * 20_000)
            api_reply = self.post("/api/v1/ingest", json.dumps({"spans": [], "pad": "x" * 20_000}).encode(), JSON)
        assert otlp_reply.status_code == 413
        assert otlp_reply.json()["message"] == "request body is over the 10000 byte limit"
        assert api_reply.status_code == 413
        assert api_reply.json()["detail"] == "request body is over the 10000 byte limit"

    def test_attribute_count(self):
        too_many = {f"k{i}": i for i in range(self.limits.max_attributes + 1)}
        assert f"4097 attributes, over the limit of {self.limits.max_attributes}" in self.otlp_reason(too_many)
        assert self.api_errors(attributes=too_many) == {
            "spans[0].attributes": ["4097 attributes, over the limit of 4096"]
        }

    def test_attribute_length(self):
        long = "x" * (self.limits.max_value_length + 1)
        reason = f"value of {len(long)} characters, over the limit of {self.limits.max_value_length}"
        assert f"attribute 'prompt': {reason}" in self.otlp_reason({"prompt": long})
        assert self.api_errors(attributes={"prompt": long}) == {
            "spans[0].attributes": [f"attribute 'prompt': {reason}"]
        }
        assert self.api_errors(input=long) == {"spans[0].input": [reason]}

    def test_nesting_depth(self):
        deep: Any = "x"
        for _ in range(self.limits.max_depth + 1):
            deep = [deep]
        reason = f"value nested deeper than {self.limits.max_depth} levels"
        assert f"attribute 'deep': {reason}" in self.otlp_reason({"deep": deep})
        assert self.api_errors(attributes={"deep": deep}) == {"spans[0].attributes": [f"attribute 'deep': {reason}"]}
        assert self.api_errors(output=deep) == {"spans[0].output": [reason]}

    def test_a_body_nested_too_deeply_to_parse_is_a_400_on_every_api(self):
        body = ("[" * 100_000 + "]" * 100_000).encode()
        for path in ("/api/v1/ingest", "/api/v1/price-overrides", "/api/v1/scores"):
            response = self.post(path, body, JSON)
            assert response.status_code == 400, (path, response.status_code)
        assert self.post("/v1/traces", body, JSON).status_code == 400
