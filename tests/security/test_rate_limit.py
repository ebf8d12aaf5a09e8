"""Requests per minute per project key: the next one past the limit is 429 with Retry-After on
OTLP/HTTP and the REST API (RESOURCE_EXHAUSTED with RetryInfo on gRPC), other keys carry on, and
real OpenTelemetry exporters wait as told and then deliver everything."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from unittest import mock

import grpc
import pytest
from django.test import TestCase, override_settings
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingest import grpc_server
from ingest.models import Span
from tenancy.models import Membership
from tests import otlp_payloads
from tests.factories import make_project, make_user
from tests.ingest.test_api import batch
from tests.ingest.test_live_intake import end_grpc_worker_sessions

# 15 s into a minute: a refused request is told to retry in the 45 s left of it.
FROZEN = 30_000_000 * 60 + 15.0
HANDMADE = (otlp_payloads.FIXTURES / "handmade_genai.json").read_bytes()
# A Redis nobody listens on (port 1): every cache call fails fast.
UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@override_settings(AGENTLEDGER_KEY_RATE_LIMIT=3)
class RateLimitTestCase(TestCase):
    def setUp(self):
        clock = mock.patch("tenancy.ratelimit._now", return_value=FROZEN)
        clock.start()
        self.addCleanup(clock.stop)
        self.project, self.key = make_project()
        _, self.other_key = make_project("Other agents", org_slug="other")

    def otlp(self, key, path="/v1/traces"):
        return self.client.post(path, HANDMADE, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")

    def api(self, key, path="/api/v1/runs"):
        return self.client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


class OtlpHttpTests(RateLimitTestCase):
    def test_the_request_past_the_limit_is_429_with_retry_after(self):
        assert [self.otlp(self.key).status_code for _ in range(3)] == [200, 200, 200]

        refused = self.otlp(self.key)

        assert refused.status_code == 429
        assert refused["Retry-After"] == "45"
        assert refused.json() == {
            "code": 429,
            "message": "rate limit exceeded: this API key may send 3 requests per minute; retry in 45 s",
        }

    def test_traces_and_logs_share_the_key_budget(self):
        for _ in range(3):
            self.otlp(self.key)
        assert self.otlp(self.key, "/v1/logs").status_code == 429

    def test_another_key_is_unaffected(self):
        for _ in range(4):
            self.otlp(self.key)
        assert self.otlp(self.other_key).status_code == 200

    def test_the_next_minute_starts_a_fresh_budget(self):
        for _ in range(4):
            self.otlp(self.key)
        with mock.patch("tenancy.ratelimit._now", return_value=FROZEN + 45):
            assert self.otlp(self.key).status_code == 200

    def test_a_bad_key_is_still_401_not_429(self):
        for _ in range(4):
            self.otlp(self.key)
        assert self.otlp("al_not-a-key").status_code == 401

    @override_settings(AGENTLEDGER_KEY_RATE_LIMIT=0)
    def test_zero_turns_the_limit_off(self):
        assert {self.otlp(self.key).status_code for _ in range(10)} == {200}

    @override_settings(CACHES=UNREACHABLE_CACHE)
    def test_a_cache_outage_lets_intake_through(self):
        with self.assertLogs("tenancy.ratelimit", "WARNING") as logs:
            assert {self.otlp(self.key).status_code for _ in range(5)} == {200}
        assert "rate limit not enforced: the cache is unavailable" in logs.output[0]


class RestApiTests(RateLimitTestCase):
    def test_the_request_past_the_limit_is_429_with_retry_after(self):
        assert [self.api(self.key).status_code for _ in range(3)] == [200, 200, 200]

        refused = self.api(self.key)

        assert refused.status_code == 429
        assert refused["Retry-After"] == "45"
        assert refused.json() == {
            "detail": "rate limit exceeded: this API key may send 3 requests per minute. Expected available in 45 seconds."
        }

    def test_every_key_authenticated_endpoint_counts_against_one_budget(self):
        ingest = self.client.post(
            "/api/v1/ingest", batch(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.key}"
        )
        assert ingest.status_code == 200
        assert self.api(self.key, "/api/v1/budgets").status_code == 200
        assert self.api(self.key, "/api/v1/metrics/summary").status_code == 200
        assert self.api(self.key, "/api/v1/scores").status_code == 429
        assert self.otlp(self.key).status_code == 429, "OTLP and the REST API share the key's counter"

    def test_a_refused_batch_stores_nothing(self):
        for _ in range(3):
            self.api(self.key)
        refused = self.client.post(
            "/api/v1/ingest", batch(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.key}"
        )
        assert refused.status_code == 429
        assert not Span.objects.exists()

    def test_another_key_is_unaffected(self):
        for _ in range(4):
            self.api(self.key)
        assert self.api(self.other_key).status_code == 200

    def test_signed_in_dashboard_users_are_not_counted(self):
        user = make_user("ann", organization=self.project.organization, role=Membership.Role.VIEWER)
        self.client.force_login(user)
        runs = f"/api/v1/runs?project={self.project.pk}"
        assert {self.client.get(runs).status_code for _ in range(5)} == {200}


# --- over real connections, with the exporters of the OpenTelemetry SDK ---------------------


def post_traces(url, key):
    request = urllib.request.Request(
        f"{url}/v1/traces",
        HANDMADE,
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def two_spans():
    """Two finished spans of one trace, as an SDK hands them to its exporter."""
    recorder = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorder))
    tracer = provider.get_tracer("rate-limit-test")
    with tracer.start_as_current_span("invoke_agent planner"), tracer.start_as_current_span("chat gpt-4o-mini") as call:
        call.set_attribute("gen_ai.operation.name", "chat")
        call.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    return recorder.get_finished_spans()


def near_the_end_of_a_minute(seconds_left):
    """A clock for the limiter that runs in real time but `seconds_left` before a minute ends."""
    offset = (60 - seconds_left) - time.time() % 60
    return lambda: time.time() + offset


@pytest.fixture
def one_request_a_minute(settings):
    settings.AGENTLEDGER_KEY_RATE_LIMIT = 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("one_request_a_minute")
class TestOverTheWire:
    def test_otlp_http_answers_429_with_retry_after(self, live_server):
        _, key = make_project()
        with mock.patch("tenancy.ratelimit._now", return_value=FROZEN):
            assert post_traces(live_server.url, key)[0] == 200
            status, headers, body = post_traces(live_server.url, key)
        assert (status, headers["Retry-After"]) == (429, "45")
        assert json.loads(body)["message"].startswith("rate limit exceeded")

    def test_the_http_exporter_waits_retry_after_then_delivers(self, live_server, caplog):
        project, key = make_project()
        exporter = HttpSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {key}"})
        first, second = two_spans()
        with mock.patch("tenancy.ratelimit._now", near_the_end_of_a_minute(2.5)), caplog.at_level(logging.WARNING):
            assert exporter.export([first]) == SpanExportResult.SUCCESS
            assert exporter.export([second]) == SpanExportResult.SUCCESS  # after one 429 and a wait
        assert any("retrying in" in r.getMessage() for r in caplog.records), "the second export was held back"
        assert Span.objects.filter(project=project).count() == 2

    def test_grpc_answers_resource_exhausted_with_retry_info(self):
        _, key = make_project()
        request = trace_service_pb2.ExportTraceServiceRequest()
        server, port = grpc_server.build_server("127.0.0.1:0")
        server.start()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
                metadata = (("authorization", f"Bearer {key}"),)
                with mock.patch("tenancy.ratelimit._now", return_value=FROZEN):
                    export(request, metadata=metadata, timeout=10)
                    with pytest.raises(grpc.RpcError) as refused:
                        export(request, metadata=metadata, timeout=10)
        finally:
            server.stop(grace=None).wait(timeout=5)
            end_grpc_worker_sessions()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "rate limit exceeded" in refused.value.details()
        retry_info = RetryInfo.FromString(dict(refused.value.trailing_metadata())["google.rpc.retryinfo-bin"])
        assert retry_info.retry_delay.seconds == 45

    def test_the_grpc_exporter_waits_retry_info_then_delivers(self, caplog):
        project, key = make_project()
        server, port = grpc_server.build_server("127.0.0.1:0")
        server.start()
        exporter = GrpcSpanExporter(
            endpoint=f"127.0.0.1:{port}", insecure=True, headers=(("authorization", f"Bearer {key}"),)
        )
        first, second = two_spans()
        try:
            with mock.patch("tenancy.ratelimit._now", near_the_end_of_a_minute(2.5)), caplog.at_level(logging.WARNING):
                assert exporter.export([first]) == SpanExportResult.SUCCESS
                assert exporter.export([second]) == SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
            server.stop(grace=None).wait(timeout=5)
            end_grpc_worker_sessions()
        assert any("retrying in" in r.getMessage() for r in caplog.records), "the second export was held back"
        assert Span.objects.filter(project=project).count() == 2
