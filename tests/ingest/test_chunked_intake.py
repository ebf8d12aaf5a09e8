"""Bodies sent with `Transfer-Encoding: chunked` and no Content-Length, as OpenTelemetry JS's OTLP
exporter sends every export: stored whole under gunicorn (what `make run` serves) and under
Django's test server, in every OTLP encoding and on the JSON API, within the size limit; a body
that was declared but never came is refused, never acknowledged.

Each test reads what it sent back through the query API, the way a user would see it: the run's
span tree and the totals.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingest.models import LogRecord, Run, Span
from tests import otlp_payloads, processes
from tests.factories import make_project
from tests.faults.services import INPUT_TOKENS, LLM_CALLS_PER_RUN, OUTPUT_TOKENS, SPANS_PER_RUN, export_body
from tests.ingest.conftest import LIMIT

RUNS = 3

# The servers answer from their own processes or threads: the data must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def django_server(live_server, settings) -> str:
    settings.AGENTLEDGER_MAX_REQUEST_BYTES = LIMIT
    return str(live_server.url)


@pytest.fixture(params=["gunicorn", "django_server"])
def server(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def post_chunked(url: str, path: str, body: bytes, headers: dict[str, str], *, piece: int = 4000) -> tuple[int, Any]:
    """POST `body` in chunks of `piece` bytes with no Content-Length; (status, decoded JSON or raw body)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        chunks = (body[i : i + piece] for i in range(0, len(body), piece))
        connection.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    is_json = (response.getheader("Content-Type") or "").startswith("application/json")
    return response.status, json.loads(raw) if is_json and raw else raw


def get_json(url: str, path: str, key: str) -> Any:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        connection.close()


def otlp_json(body: bytes) -> bytes:
    """The same export in OTLP/JSON: hex ids, as OTLP/HTTP JSON exporters send them."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    data = json_format.MessageToDict(request)
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = base64.b64decode(span[field]).hex()
    return json.dumps(data).encode()


def encoded(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    return body


def trace_ids(body: bytes) -> list[str]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sorted({s.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans})


def recent_export(batch: int = 0) -> bytes:
    return export_body(batch, RUNS, time.time_ns() - 3600 * 10**9, agent="chunky-bot")


def assert_runs_visible(url: str, key: str, body: bytes) -> None:
    """Every run of `body` has its whole span tree, and the totals count every call."""
    for trace_id in trace_ids(body):
        tree = get_json(url, f"/api/v1/runs/{trace_id}", key)
        assert tree["run"]["agent_name"] == "chunky-bot"
        (root,) = tree["spans"]
        assert len(root["children"]) == SPANS_PER_RUN - 1
    call_command("rollup", verbosity=0)
    (row,) = get_json(url, "/api/v1/metrics/summary?since=7d", key)["rows"]
    assert (row["runs"], row["llm_calls"], row["tool_calls"]) == (RUNS, RUNS * LLM_CALLS_PER_RUN, RUNS)
    assert (row["input_tokens"], row["output_tokens"]) == (
        RUNS * LLM_CALLS_PER_RUN * INPUT_TOKENS,
        RUNS * LLM_CALLS_PER_RUN * OUTPUT_TOKENS,
    )


@pytest.mark.parametrize("coding", ["identity", "gzip", "deflate"])
@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
def test_chunked_trace_export_is_stored_whole(server, media, coding):
    project, key = make_project()
    body = recent_export()
    wire = encoded(otlp_json(body) if media == "application/json" else body, coding)
    headers = {"Content-Type": media, "Authorization": f"Bearer {key}"}
    if coding != "identity":
        headers["Content-Encoding"] = coding

    status, _ = post_chunked(server, "/v1/traces", wire, headers, piece=997)

    assert status == 200
    assert Span.objects.filter(project=project).count() == RUNS * SPANS_PER_RUN
    assert_runs_visible(server, key, body)


def test_chunked_log_export_brings_the_messages(server):
    """openai-v2's message events travel on the logs signal; chunked, they still reach their spans."""
    project, key = make_project()
    headers = {"Authorization": f"Bearer {key}"}
    for path, body, content_type in otlp_payloads.exports("openai_v2"):
        status, _ = post_chunked(server, path, gzip.compress(body), {**headers, "Content-Type": content_type,
                                                                  "Content-Encoding": "gzip"})  # fmt: skip
        assert status == 200, path
    assert LogRecord.objects.filter(project=project).exists()
    llm_calls = Span.objects.filter(project=project, kind="llm")
    assert llm_calls.exists()
    assert not llm_calls.filter(input=None).exists(), "every call's prompt came from its log events"


def test_chunked_metrics_export_is_accepted(server):
    _, key = make_project()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
    status, _ = post_chunked(server, "/v1/metrics", b"\x0a\x00", headers)
    assert status == 200


def test_chunked_rest_ingest_is_stored(server):
    project, key = make_project()
    now = datetime.now(UTC)
    at = lambda seconds: (now - timedelta(seconds=seconds)).isoformat()  # noqa: E731
    payload = {
        "spans": [
            {"trace_id": "ab" * 16, "span_id": "01" * 8, "name": "invoke_agent rest-bot", "kind": "agent",
             "start_time": at(5), "end_time": at(0)},
            {"trace_id": "ab" * 16, "span_id": "02" * 8, "parent_span_id": "01" * 8, "name": "chat",
             "kind": "llm", "model": "gpt-4o-mini", "input_tokens": 11, "output_tokens": 7,
             "start_time": at(4), "end_time": at(3)},
        ],
        "runs": [{"trace_id": "ab" * 16, "agent_name": "rest-bot"}],
    }  # fmt: skip
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    status, answer = post_chunked(server, "/api/v1/ingest", json.dumps(payload).encode(), headers, piece=50)
    assert status in (200, 201, 202), answer
    run = Run.objects.get(project=project)
    assert (run.agent_name, run.input_tokens, run.output_tokens) == ("rest-bot", 11, 7)


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics", "/api/v1/ingest"])
def test_declared_body_that_never_comes_is_a_400(server, path):
    project, key = make_project()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
    status, answer = post_chunked(server, path, b"", headers)
    assert status == 400
    assert "declared a body" in answer["message"]
    assert not Span.objects.filter(project=project).exists()


def test_an_empty_export_that_declares_no_body_is_accepted(server):
    """Content-Length: 0 declares no body (SDKs send such exports when flushing nothing): nothing was
    lost, so it is acknowledged, unlike a chunked body that never came."""
    project, key = make_project()
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("POST", "/v1/traces", body=b"", headers={"Content-Type": "application/x-protobuf",
                                                                "Authorization": f"Bearer {key}"})  # fmt: skip
    assert connection.getresponse().status == 200
    connection.close()
    assert not Span.objects.filter(project=project).exists()


def test_chunked_body_over_the_limit_is_a_413_and_reading_stops(server):
    """The server answers 413 while the client is still sending: it read no further than the limit."""
    project, key = make_project()
    parts = urlsplit(server)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"\x00" * 16384
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        answer = b""
        while sent < 64 * LIMIT and not answer:
            try:
                sock.sendall(chunk)
                sent += len(piece)
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(10)
        while not answer.endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"over the 262144 byte limit" in answer
    assert sent < 8 * LIMIT, f"the client sent {sent} bytes before the server answered"
    assert not Span.objects.filter(project=project).exists()


def test_opentelemetry_js_exporter_run_appears_like_a_python_one(gunicorn, node_exporter):
    """The real OpenTelemetry JS OTLP/HTTP protobuf exporter on Node 22, configured by the
    environment variables the README shows, exports a small agent run (gzip-compressed and
    chunked) to gunicorn; the run's tree and totals match what the provider billed."""
    from tests.fakes.llm_server import FakeLLMServer

    project, key = make_project()
    with FakeLLMServer() as llm:
        usages = processes.run_node(node_exporter / "weather_agent.mjs", {
            "LLM_BASE_URL": llm.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{gunicorn}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {key}",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        })  # fmt: skip
    provider_usages = [request.usage for request in llm.requests]
    assert usages == provider_usages and len(usages) == 4

    run = Run.objects.get(project=project)
    assert (run.agent_name, run.service_name, run.status) == ("weather-bot-js", "weather-bot-js", "ok")
    assert (run.llm_calls, run.tool_calls, run.tool_errors) == (4, 2, 1)
    assert run.input_tokens == sum(u["prompt_tokens"] for u in provider_usages)
    assert run.output_tokens == sum(u["completion_tokens"] for u in provider_usages)
    assert run.cache_read_tokens == sum(u["prompt_tokens_details"]["cached_tokens"] for u in provider_usages)

    tree = get_json(gunicorn, f"/api/v1/runs/{run.trace_id}", key)
    (root,) = tree["spans"]
    assert sorted(child["kind"] for child in root["children"]) == ["llm"] * 4 + ["tool"] * 2
    call_command("rollup", verbosity=0)
    (row,) = get_json(gunicorn, "/api/v1/metrics/summary?since=7d&group_by=agent", key)["rows"]
    assert (row["group"], row["runs"], row["llm_calls"], row["tool_errors"]) == ("weather-bot-js", 1, 4, 1)
    assert row["input_tokens"] == run.input_tokens
