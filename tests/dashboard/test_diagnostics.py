"""Intake diagnostics, page and API, on a project fed through the OTLP endpoint with a known mix:
one attribute key no rule reads, one call whose usage contradicts itself, one unpriced model, one
agent span repeating its calls' usage, one reported cost the price book disagrees with."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.dashboard.test_overview import DashboardTestCase
from tests.factories import make_project, make_user
from tests.ingest.test_otlp import proto_attributes, proto_span

NOW = time.time_ns()
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")


def chat(n: int, model: str, **attributes) -> object:
    return proto_span(trace_id=TRACE, span_id=span_id(n), parent_span_id=span_id(1), name=f"chat {model}",
                      start_time_unix_nano=NOW - 60 * 10**9 + n, end_time_unix_nano=NOW - 59 * 10**9,
                      attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                  "gen_ai.request.model": model, **attributes})  # fmt: skip


def export() -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(proto_attributes({
        "service.name": "support-bot", "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.45.1"}))  # fmt: skip
    scope = resource_spans.scope_spans.add()
    scope.scope.name, scope.scope.version = "opentelemetry.instrumentation.openai_v2", "2.4b0"
    scope.spans.extend([
        proto_span(trace_id=TRACE, span_id=span_id(1), name="invoke_agent support-bot",
                   start_time_unix_nano=NOW - 61 * 10**9, end_time_unix_nano=NOW - 50 * 10**9,
                   attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot",
                               "gen_ai.usage.input_tokens": 300, "gen_ai.usage.output_tokens": 60}),
        chat(2, "gpt-4o-mini", **{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
                                 "acme.prompt_version": "v3"}),
        chat(3, "gpt-4o-mini", **{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
                                 "gen_ai.usage.total_tokens": 150}),
        chat(4, "acme-llm-7", **{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}),
        chat(5, "gpt-4o-mini", **{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
                                 "gen_ai.usage.cost": 5.0}),
    ])  # fmt: skip
    return request.SerializeToString()


class DiagnosticsTests(DashboardTestCase):
    url = "/p/acme/acme-agents/diagnostics/"

    def setUp(self):
        self.project, self.raw_key = make_project("Acme agents", org_slug="acme")
        self.client.force_login(make_user("ann", organization=self.project.organization))
        response = self.client.post("/v1/traces", export(), content_type="application/x-protobuf",
                                    headers={"authorization": f"Bearer {self.raw_key}"})  # fmt: skip
        assert response.status_code == 200, response.content

    def api(self) -> dict:
        response = self.client.get(
            "/api/v1/diagnostics", {"since": "1d"}, headers={"authorization": f"Bearer {self.raw_key}"}
        )
        assert response.status_code == 200, response.content
        return response.json()

    def test_the_api_counts_the_known_mix(self):
        found = self.api()
        (sender,) = found["senders"]
        assert (sender["scope"], sender["version"], sender["sdk"], sender["spans"]) == (
            "opentelemetry.instrumentation.openai_v2", "2.4b0", "python 1.45.1", 5)  # fmt: skip
        assert [(f["name"], f["spans"]) for f in found["unmapped_keys"]] == [("acme.prompt_version", 1)]
        assert found["unmapped_keys"][0]["example"] == {"trace_id": TRACE.hex(), "span_id": span_id(2).hex()}
        assert {(f["name"], f["spans"]) for f in found["usage_warnings"]} == {
            ("total_mismatch", 1),
            ("usage_on_parent", 1),
        }
        assert [(f["name"], f["spans"]) for f in found["unpriced_models"]] == [("acme-llm-7", 1)]
        (disagreement,) = found["cost_disagreements"]
        assert (disagreement["model"], disagreement["spans"], disagreement["reported_usd"]) == (
            "gpt-4o-mini", 1, "5.0000000000")  # fmt: skip
        assert disagreement["example"]["span_id"] == span_id(5).hex()

    def test_the_page_shows_each_finding_with_a_link_to_its_span(self):
        response = self.client.get(self.url, {"since": "1d"})
        assert response.status_code == 200
        body = response.content.decode()
        for text in ("opentelemetry.instrumentation.openai_v2", "acme.prompt_version", "input + output differ from the reported total",
                     "usage repeated on a parent span", "acme-llm-7", "not in the price book"):  # fmt: skip
            assert text in body, text
        assert f"/p/acme/acme-agents/runs/{TRACE.hex()}/?span={span_id(2).hex()}" in body

    def test_another_projects_key_sees_none_of_it(self):
        _, other_key = make_project("Other", org_slug="other")
        response = self.client.get("/api/v1/diagnostics", headers={"authorization": f"Bearer {other_key}"})
        assert response.status_code == 200
        assert response.json()["senders"] == [] and response.json()["unmapped_keys"] == []
