"""REST intake (POST /api/v1/ingest) for stacks without OpenTelemetry."""

from __future__ import annotations

from decimal import Decimal

from django.test import TestCase

from ingest.models import Run, Span
from tests.factories import make_project


def batch(**overrides):
    spans = [
        {"trace_id": "run-42", "span_id": "root", "name": "support-bot", "kind": "agent",
         "start_time": "2026-11-23T10:00:00Z", "end_time": "2026-11-23T10:00:04Z"},
        {"trace_id": "run-42", "span_id": "call-1", "parent_span_id": "root", "name": "chat gpt-4o", "kind": "llm",
         "provider": "openai", "model": "gpt-4o", "input_tokens": 1200, "output_tokens": 80, "cache_read_tokens": 1000,
         "cost_usd": "0.0042", "start_time": "2026-11-23T10:00:00Z", "end_time": "2026-11-23T10:00:02Z",
         "input": [{"role": "user", "content": "Where is my order?"}], "output": "It ships today."},
        {"trace_id": "run-42", "span_id": "tool-1", "parent_span_id": "root", "name": "lookup_order", "kind": "tool",
         "tool_name": "lookup_order", "status": "error", "error_message": "timeout",
         "start_time": "2026-11-23T10:00:02Z", "end_time": "2026-11-23T10:00:03Z"},
    ]  # fmt: skip
    body = {
        "runs": [
            {
                "trace_id": "run-42",
                "name": "answer ticket",
                "agent_name": "support-bot",
                "user_id": "u-7",
            }
        ],
        "spans": spans,
    }
    body.update(overrides)
    return body


class RestIngestTests(TestCase):
    def setUp(self):
        self.project, self.key = make_project()

    def post(self, body, key=None):
        return self.client.post(
            "/api/v1/ingest",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key or self.key}",
        )

    def test_a_batch_becomes_a_run_with_totals(self):
        response = self.post(batch())
        assert response.status_code == 200, response.content
        assert response.json()["accepted_spans"] == 3
        run = Run.objects.get(project=self.project)
        assert (run.name, run.agent_name, run.user_id) == (
            "answer ticket",
            "support-bot",
            "u-7",
        )
        assert (run.llm_calls, run.tool_calls, run.tool_errors) == (1, 1, 1)
        assert (run.input_tokens, run.output_tokens, run.cache_read_tokens) == (
            1200,
            80,
            1000,
        )
        assert run.cost_usd == Decimal("0.0042")
        assert run.duration_ms == 4000
        assert run.status == "ok"
        llm = Span.objects.get(kind="llm")
        assert llm.cost_source == "reported"
        assert llm.input == [{"role": "user", "content": "Where is my order?"}]

    def test_string_ids_are_mapped_to_stable_ids(self):
        self.post(batch())
        self.post(batch())
        assert Span.objects.count() == 3
        root = Span.objects.get(kind="agent")
        assert len(root.trace_id) == 32 and len(root.span_id) == 16
        assert Span.objects.get(kind="llm").parent_span_id == root.span_id

    def test_validation_errors_name_the_field_and_index(self):
        body = batch()
        del body["spans"][1]["start_time"]
        body["spans"][2]["kind"] = "robot"
        body["spans"][0]["input_tokens"] = -5
        response = self.post(body)
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert set(errors) == {
            "spans[1].start_time",
            "spans[2].kind",
            "spans[0].input_tokens",
        }
        assert not Span.objects.exists()

    def test_a_run_without_spans_in_the_batch_is_refused(self):
        body = batch(runs=[{"trace_id": "other"}])
        response = self.post(body)
        assert response.status_code == 400
        assert "runs[0].trace_id" in response.json()["errors"]

    def test_end_before_start_is_refused(self):
        body = batch()
        body["spans"][0]["end_time"] = "2026-11-23T09:00:00Z"
        assert "spans[0].end_time" in self.post(body).json()["errors"]

    def test_bad_key_is_401(self):
        assert self.post(batch(), key="al_wrong").status_code == 401
        assert self.client.post("/api/v1/ingest", batch(), content_type="application/json").status_code in (401, 403)

    def test_schema_documents_the_endpoint(self):
        schema = self.client.get("/api/schema/?format=json")
        assert schema.status_code == 200
        assert "/api/v1/ingest" in schema.json()["paths"]
