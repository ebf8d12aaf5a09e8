"""OTLP/HTTP intake: real captured payloads through /v1/traces and /v1/logs into runs and spans."""

from __future__ import annotations

import gzip
import json
import threading
import unittest
import unittest.mock
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.test import TestCase, TransactionTestCase
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingest import copying, otlp, services, signals
from ingest.models import LogRecord, Run, Span
from tenancy.models import ApiKey
from tests import otlp_payloads
from tests.factories import make_project
from tests.ingest import spans as fake_spans

PROTOBUF = "application/x-protobuf"

# What each instrumentation library actually sends for the captured agent program: 5 LLM calls
# (1 failing), 2 tool calls (1 failing), 1 embedding in some. Where a library does not record a
# number the fake provider returned, the run cannot know it either (noted per row).
EXPECTED = {
    # openai-v2 records no cached or reasoning token counts; embeddings' input tokens count.
    "openai_v2": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                      input_tokens=608, output_tokens=130, cache_read_tokens=0, reasoning_tokens=0, user="user-42", session="sess-weather-001"),
    # The older openai-v2 (2.3) sends message content as per-message log events only.
    "openai_v2_legacy": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                             input_tokens=608, output_tokens=130, user="user-42", session="sess-weather-001"),
    "openinference_openai": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                                 input_tokens=608, output_tokens=130, cache_read_tokens=200, reasoning_tokens=20, user="user-42", session="sess-weather-001"),
    # OpenLLMetry records no reasoning tokens for the streamed call.
    "openllmetry_openai": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                               input_tokens=608, output_tokens=130, cache_read_tokens=200, reasoning_tokens=15, user="user-42", session="sess-weather-001"),
    # The Anthropic SDK traces itself too: each call arrives twice and must count once.
    "anthropic_openinference": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                                    input_tokens=1228, output_tokens=130, cache_read_tokens=600, cache_write_tokens=28, user="user-42", session="sess-weather-001"),
    "anthropic_openllmetry": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                                  input_tokens=1228, cache_read_tokens=600, cache_write_tokens=28, user="user-42", session="sess-weather-001"),
    # The OpenInference processor drops the SDK trace's group_id and metadata (no user/session).
    "openai_agents_openinference": dict(traces=2, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                                        input_tokens=600, output_tokens=130, cache_read_tokens=200, reasoning_tokens=20),
    # The graph's node "agent" is LangGraph's name; the user named the graph. The user id
    # comes from the run config's metadata.
    "langgraph_openinference": dict(traces=3, agent="weather-graph", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                                    input_tokens=600, output_tokens=130, cache_read_tokens=200, reasoning_tokens=20, user="user-42", session="sess-weather-001"),
    # pydantic-ai's agent spans repeat their children's usage; only the calls count.
    "pydantic_ai": dict(traces=3, agent="weather-agent", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                        input_tokens=600, output_tokens=130, cache_read_tokens=200, reasoning_tokens=20),
    "langfuse_sdk": dict(traces=1, agent="weather-bot", llm_calls=5, failed_llm_calls=1, tool_calls=2, tool_errors=1,
                         input_tokens=600, output_tokens=130, cache_read_tokens=200, reasoning_tokens=20, user="user-42", session="sess-weather-001"),
}  # fmt: skip

TOTALS = ["llm_calls", "failed_llm_calls", "tool_calls", "tool_errors", "input_tokens", "output_tokens",
          "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"]  # fmt: skip


class IntakeTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project()

    def post(
        self,
        path: str,
        body: bytes,
        content_type: str = PROTOBUF,
        key: str | None = None,
        **headers,
    ):
        return self.client.post(
            path,
            body,
            content_type=content_type,
            HTTP_AUTHORIZATION=f"Bearer {key or self.key}",
            **headers,
        )

    def send_scenario(self, name: str) -> None:
        for path, body, content_type in otlp_payloads.exports(name):
            response = self.post(path, body, content_type)
            assert response.status_code == 200, response.content
            assert response.content == b"", "a fully accepted export gets the empty ExportTraceServiceResponse"

    def run_totals(self) -> dict[str, int]:
        sums = Run.objects.filter(project=self.project).aggregate(**{f: Sum(f) for f in TOTALS})
        return {f: sums[f] or 0 for f in TOTALS}


class CapturedLibraryTests(IntakeTestCase):
    def check(self, name: str) -> None:
        expected = EXPECTED[name]
        self.send_scenario(name)
        runs = list(Run.objects.filter(project=self.project))
        assert len(runs) == expected["traces"]
        assert {r.agent_name for r in runs} == {expected["agent"]}
        totals = self.run_totals()
        for field in TOTALS:
            if field in expected:
                assert totals[field] == expected[field], (field, totals)
        assert {r.user_id for r in runs} == {expected.get("user", "")}
        if "session" in expected:
            assert {r.session_id for r in runs} == {expected["session"]}
        assert sum(r.status == "error" for r in runs) <= 1, "only the run whose agent failed is an error"

    def test_openai_v2_instrumentation(self):
        self.check("openai_v2")

    def test_openinference_openai_instrumentation(self):
        self.check("openinference_openai")

    def test_openllmetry_openai_instrumentation(self):
        self.check("openllmetry_openai")

    def test_anthropic_sdk_with_openinference_counts_each_call_once(self):
        self.check("anthropic_openinference")

    def test_anthropic_sdk_with_openllmetry_counts_each_call_once(self):
        self.check("anthropic_openllmetry")

    def test_openai_agents_sdk_via_openinference(self):
        self.check("openai_agents_openinference")

    def test_langgraph_via_openinference_names_the_graph_not_its_node(self):
        self.check("langgraph_openinference")

    def test_pydantic_ai_agent_usage_is_not_double_counted(self):
        self.check("pydantic_ai")

    def test_langfuse_sdk(self):
        self.check("langfuse_sdk")

    def test_span_kinds_models_and_messages_are_recorded(self):
        self.send_scenario("openinference_openai")
        spans = Span.objects.filter(project=self.project)
        assert set(spans.values_list("kind", flat=True)) >= {
            "agent",
            "llm",
            "tool",
            "embedding",
        }
        llm = spans.filter(kind="llm", is_error=False).order_by("start_time").first()
        assert (llm.provider, llm.request_model) == ("openai", "gpt-4o-mini")
        assert llm.input[0]["role"] == "system"
        assert any(part.get("type") == "tool_call" for msg in llm.output for part in msg["parts"])
        tool = spans.get(kind="tool", is_error=True)
        assert tool.tool_name == "get_weather"
        assert tool.error_message

    def test_message_content_sent_as_log_events_is_attached_to_its_span(self):
        self.send_scenario("openai_v2")
        assert LogRecord.objects.filter(project=self.project).exists()
        llm = Span.objects.filter(project=self.project, kind="llm", is_error=False).order_by("start_time").first()
        assert llm.input and any(m["role"] == "user" for m in llm.input)
        assert llm.output

    def test_legacy_per_message_log_events_become_the_span_messages(self):
        self.send_scenario("openai_v2_legacy")
        llm = Span.objects.filter(project=self.project, kind="llm", is_error=False).order_by("start_time").first()
        assert [m["role"] for m in llm.input][:2] == ["system", "user"]
        assert llm.output

    def test_openai_v2_legacy_instrumentation(self):
        self.check("openai_v2_legacy")

    def test_logs_before_traces_are_attached_when_the_span_arrives(self):
        for path, body, content_type in reversed(otlp_payloads.exports("openai_v2")):
            assert self.post(path, body, content_type).status_code == 200
        llm = Span.objects.filter(project=self.project, kind="llm", is_error=False).order_by("start_time").first()
        assert llm.input and llm.output


class IdempotencyAndOrderTests(IntakeTestCase):
    def snapshot(self) -> list[tuple]:
        fields = [
            "trace_id",
            "name",
            "agent_name",
            "status",
            "root_span_id",
            "has_root",
            "span_count",
            *TOTALS,
            "start_time",
            "end_time",
        ]
        return list(Run.objects.filter(project=self.project).order_by("trace_id").values_list(*fields))

    def test_replaying_the_same_batch_changes_nothing(self):
        self.send_scenario("openinference_openai")
        first, spans = self.snapshot(), Span.objects.count()
        self.send_scenario("openinference_openai")
        assert self.snapshot() == first
        assert Span.objects.count() == spans

    def test_a_trace_split_over_out_of_order_requests_gives_the_same_run(self):
        request = otlp_payloads.traces_request("anthropic_openinference")
        self.post("/v1/traces", request.SerializeToString())
        whole = self.snapshot()
        Run.objects.all().delete()
        Span.objects.all().delete()
        for body in reversed(otlp_payloads.split_spans(request, 4)):
            assert self.post("/v1/traces", body).status_code == 200
        assert self.snapshot() == whole

    def test_runs_summed_at_intake_agree_with_a_recompute_from_the_stored_spans(self):
        """Intake sums a request's new spans from memory, without reading them back; a later
        recompute from what was stored must find the same run, to the last decimal of cost."""
        request = otlp_payloads.traces_request("anthropic_openinference")
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for n, span in enumerate(ss.spans):
                    cost = span.attributes.add(key="llm.cost.total")
                    cost.value.double_value = 0.00001 * (n + 1) + 4e-11  # more places than are stored
        assert self.post("/v1/traces", request.SerializeToString()).status_code == 200

        def stored() -> tuple[list[tuple], list[tuple]]:
            runs = Run.objects.filter(project=self.project).order_by("trace_id")
            spans = Span.objects.filter(project=self.project).order_by("trace_id", "span_id")
            return (
                list(runs.values_list("trace_id", "cost_usd", "input", "output", "root_span_id", *TOTALS)),
                list(spans.values_list("span_id", "counts_usage")),
            )

        at_intake = stored()
        run = Run.objects.get(project=self.project)
        counted = Span.objects.filter(project=self.project, counts_usage=True).aggregate(c=Sum("cost_usd"))["c"]
        assert run.cost_usd == counted and run.cost_usd > 0
        assert run.input and run.output, "the run shows its root span's input and output"
        services.recompute_runs(self.project, [run.trace_id])
        assert stored() == at_intake

    def test_runs_of_more_traces_than_one_upsert_statement_takes_are_all_stored_then_updated(self):
        """Runs are upserted a batch per statement (on PostgreSQL): every batch lands, and a
        trace's later spans update its run rather than adding one."""
        start = datetime(2026, 3, 2, 9, tzinfo=UTC)
        traces = [fake_spans.agent_run(start, agent=f"bot-{i}") for i in range(7)]
        with unittest.mock.patch.object(copying, "UPSERT_BATCH", 3):
            fake_spans.ingest(self.project, [first for first, *_ in traces])
            runs = Run.objects.filter(project=self.project)
            assert runs.count() == 7 and set(runs.values_list("span_count", flat=True)) == {1}
            fake_spans.ingest(self.project, [item for _, *rest in traces for item in rest])
        assert sorted(runs.values_list("agent_name", "span_count", "llm_calls")) == [
            (f"bot-{i}", 2, 1) for i in range(7)
        ]

    def test_a_run_without_its_root_yet_is_provisional_then_completed(self):
        request = otlp_payloads.traces_request("openinference_openai")
        root_parts = trace_service_pb2.ExportTraceServiceRequest()
        rest = trace_service_pb2.ExportTraceServiceRequest()
        for rs in request.resource_spans:
            for target, keep in ((root_parts, True), (rest, False)):
                t = target.resource_spans.add()
                t.resource.CopyFrom(rs.resource)
                for ss in rs.scope_spans:
                    s = t.scope_spans.add()
                    s.scope.CopyFrom(ss.scope)
                    s.spans.extend(sp for sp in ss.spans if (not sp.parent_span_id) == keep)
        self.post("/v1/traces", rest.SerializeToString())
        run = Run.objects.get(project=self.project)
        assert not run.has_root
        assert run.llm_calls == 5
        self.post("/v1/traces", root_parts.SerializeToString())
        run.refresh_from_db()
        assert run.has_root and run.name == "weather-bot"


class HandmadeJsonTests(IntakeTestCase):
    def setUp(self):
        super().setUp()
        self.body = (otlp_payloads.FIXTURES / "handmade_genai.json").read_bytes()
        self.expected = json.loads((otlp_payloads.FIXTURES / "handmade_genai.expected.json").read_text())

    def check_run(self):
        run = Run.objects.get(project=self.project)
        e = self.expected
        assert (run.trace_id, run.agent_name, run.session_id, run.user_id) == (
            e["trace_id"],
            e["agent_name"],
            e["session_id"],
            e["user_id"],
        )
        assert (run.llm_calls, run.tool_calls, run.tool_errors) == (
            e["llm_calls"],
            e["tool_calls"],
            e["tool_errors"],
        )
        assert (run.input_tokens, run.output_tokens) == (
            e["usage"]["input_tokens"],
            e["usage"]["output_tokens"],
        )
        assert (run.cache_read_tokens, run.reasoning_tokens) == (
            e["usage"]["cache_read_tokens"],
            e["usage"]["reasoning_tokens"],
        )
        assert run.duration_ms == e["duration_ms"]
        assert run.status == "ok", "a recovered tool error does not fail the run"

    def test_otlp_json_payload(self):
        response = self.post("/v1/traces", self.body, "application/json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.json() == {}
        self.check_run()

    def test_gzip_payload(self):
        response = self.post(
            "/v1/traces",
            gzip.compress(self.body),
            "application/json",
            HTTP_CONTENT_ENCODING="gzip",
        )
        assert response.status_code == 200
        self.check_run()


class BadInputTests(IntakeTestCase):
    def test_missing_or_revoked_key_is_401(self):
        body = otlp_payloads.traces_request("openai_v2").SerializeToString()
        assert self.client.post("/v1/traces", body, content_type=PROTOBUF).status_code == 401
        assert self.post("/v1/traces", body, key="al_not-a-real-key").status_code == 401
        assert not Span.objects.exists()

    def test_other_content_type_is_415(self):
        response = self.post("/v1/traces", b"hello", "text/plain")
        assert response.status_code == 415
        assert "application/x-protobuf" in response.json()["message"]

    def test_truncated_protobuf_is_400(self):
        body = otlp_payloads.traces_request("openai_v2").SerializeToString()
        assert self.post("/v1/traces", body[: len(body) // 2]).status_code == 400
        assert not Span.objects.exists()

    def test_gzip_bomb_is_413(self):
        bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
        with self.settings(AGENTLEDGER_MAX_REQUEST_BYTES=8 * 1024 * 1024):
            response = self.post("/v1/traces", bomb, HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 413

    def test_body_over_the_limit_is_413(self):
        with self.settings(AGENTLEDGER_MAX_REQUEST_BYTES=1000):
            response = self.post("/v1/traces", b"x" * 5000)
        assert response.status_code == 413

    def test_invalid_spans_are_rejected_alone_with_a_partial_success(self):
        request = otlp_payloads.traces_request("openinference_openai")
        valid = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        bad = request.resource_spans[0].scope_spans[0].spans.add()
        bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
        bad.span_id = b"\0" * 8
        response = self.post("/v1/traces", request.SerializeToString())
        assert response.status_code == 200
        reply = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
        assert reply.partial_success.rejected_spans == 1
        assert "span" in reply.partial_success.error_message
        assert Span.objects.count() == valid

    def test_a_span_the_normalizer_cannot_read_is_rejected_alone(self):
        # The decoders never build such a span; it stands for any normalizer failure, which
        # (compiled code checks its argument types) must cost that span only, not the batch.
        decoded = otlp.decode_traces(
            otlp_payloads.traces_request("openinference_openai").SerializeToString(),
            content_type=PROTOBUF,
            max_bytes=10**8,
        )
        decoded.spans[2].attributes = None  # type: ignore[assignment]
        api_key = ApiKey.objects.get(project=self.project)
        rejected = services.ingest_decoded(api_key, decoded)
        assert [r.index for r in rejected] == [2]
        assert rejected[0].reason.startswith(f"span {decoded.spans[2].span_id} could not be read: ")
        assert Span.objects.count() == len(decoded.spans) - 1

    def test_metrics_are_accepted_and_ignored(self):
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        request.resource_metrics.add().scope_metrics.add().metrics.add(name="gen_ai.client.token.usage")
        response = self.post("/v1/metrics", request.SerializeToString(), PROTOBUF)
        assert response.status_code == 200
        assert not Span.objects.exists()

    def test_reported_cost_is_kept_as_decimal(self):
        self.send_scenario("langfuse_sdk")
        priced = Span.objects.filter(project=self.project, cost_source="reported")
        assert priced.exists()
        assert all(isinstance(s.cost_usd, Decimal) for s in priced)


@unittest.skipUnless(connection.vendor == "postgresql", "SQLite runs one writer at a time anyway")
class ConcurrentSpansAndLogsTests(TransactionTestCase):
    def test_log_events_exported_while_their_spans_are_being_stored_are_attached(self):
        """The traces and logs exporters of one program send at the same moment: the log events
        arrive while the spans' transaction is still open, and must still reach their spans."""
        project, _ = make_project()
        api_key = ApiKey.objects.get(project=project)
        exports = otlp_payloads.exports("openai_v2_legacy")  # message content on the logs signal only
        decoded_logs = [
            otlp.decode_logs(body, content_type=content_type, max_bytes=10**8)
            for path, body, content_type in exports
            if path.endswith("/logs")
        ]
        logs_done = threading.Event()

        def send_logs() -> None:
            try:
                for decoded in decoded_logs:
                    services.ingest_log_events(api_key, decoded.events)
            finally:
                connection.close()
                logs_done.set()

        def logs_arrive_mid_transaction(sender, **kwargs):
            signals.spans_stored.disconnect(logs_arrive_mid_transaction)
            threading.Thread(target=send_logs).start()
            logs_done.wait(timeout=1)  # the logs' transaction waits for this one to commit

        signals.spans_stored.connect(logs_arrive_mid_transaction)
        try:
            for path, body, content_type in exports:
                if path.endswith("/traces"):
                    services.ingest_decoded(
                        api_key, otlp.decode_traces(body, content_type=content_type, max_bytes=10**8)
                    )
        finally:
            signals.spans_stored.disconnect(logs_arrive_mid_transaction)
        assert logs_done.wait(timeout=30)
        llm = Span.objects.filter(project=project, kind="llm", is_error=False).order_by("start_time").first()
        assert llm.input and any(m["role"] == "user" for m in llm.input)
        assert llm.output
