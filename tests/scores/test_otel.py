"""OpenTelemetry evaluation events (`gen_ai.evaluation.result`) become scores at intake: as span
events on /v1/traces and as log records on /v1/logs, built by the real OpenTelemetry SDK, encoded
to OTLP protobuf by its exporter's encoder and posted to the endpoints."""

from __future__ import annotations

import pytest
from django.test import TestCase
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from ingest.models import Run
from scores import otel
from scores import selectors as score_selectors
from scores.models import Score
from tests.factories import make_project

PROTOBUF = "application/x-protobuf"
EVAL = "gen_ai.evaluation.result"


class Sdk:
    """A tracer and a logger with in-memory exporters, as an instrumented agent would have."""

    def __init__(self, service: str) -> None:
        resource = Resource.create({"service.name": service})
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.tracer_provider.get_tracer("support-bot")
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.logger = self.logger_provider.get_logger("evals")

    def traces_body(self) -> bytes:
        body: bytes = encode_spans(self.spans.get_finished_spans()).SerializeToString()
        return body

    def logs_body(self) -> bytes:
        body: bytes = encode_logs(self.logs.get_finished_logs()).SerializeToString()
        return body


class EvaluationEventTests(TestCase):
    def setUp(self):
        self.project, self.key = make_project()

    def send(self, path, body):
        response = self.client.post(path, body, content_type=PROTOBUF, HTTP_AUTHORIZATION=f"Bearer {self.key}")
        assert response.status_code == 200, response.content

    def scores(self):
        return {s.name: s for s in Score.objects.filter(project=self.project)}

    def test_span_events_become_scores_on_their_span_and_run(self):
        sdk = Sdk("support-bot")
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot"}
        with sdk.tracer.start_as_current_span("invoke_agent support-bot", attributes=agent) as root:
            with sdk.tracer.start_as_current_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}) as call:
                call.add_event(
                    EVAL,
                    {
                        "gen_ai.evaluation.name": "relevance",
                        "gen_ai.evaluation.score.value": 0.25,
                        "gen_ai.evaluation.score.label": "not_relevant",
                        "gen_ai.evaluation.explanation": "answers a different question",
                    },
                )
            root.add_event(EVAL, {"gen_ai.evaluation.name": "grounded", "gen_ai.evaluation.score.label": "pass"})
            root.add_event(EVAL, {"gen_ai.evaluation.name": "toxicity", "error.type": "timeout"})
            root.add_event("something.else", {"gen_ai.evaluation.name": "ignored", "gen_ai.evaluation.score.value": 1})
        trace_id = format_trace_id(root.get_span_context().trace_id)

        self.send("/v1/traces", sdk.traces_body())

        run = Run.objects.get(project=self.project)
        assert run.trace_id == trace_id
        scores = self.scores()
        assert set(scores) == {"relevance", "grounded"}, "a failed evaluation and other events are not scores"
        relevance, grounded = scores["relevance"], scores["grounded"]
        assert (relevance.trace_id, relevance.span_id) == (trace_id, format_span_id(call.get_span_context().span_id))
        assert (relevance.data_type, relevance.value, relevance.label) == ("numeric", 0.25, "not_relevant")
        assert relevance.explanation == "answers a different question"
        assert (grounded.span_id, grounded.data_type, grounded.value) == (run.root_span_id, "boolean", 1.0)
        assert {(s.source, s.author) for s in scores.values()} == {("otel", "support-bot")}

    def test_a_boolean_value_is_a_pass_or_a_fail(self):
        sdk = Sdk("support-bot")
        with sdk.tracer.start_as_current_span("invoke_agent support-bot") as root:
            root.add_event(EVAL, {"gen_ai.evaluation.name": "grounded", "gen_ai.evaluation.score.value": True})
            root.add_event(EVAL, {"gen_ai.evaluation.name": "polite", "gen_ai.evaluation.score.value": False})
        trace_id = format_trace_id(root.get_span_context().trace_id)

        self.send("/v1/traces", sdk.traces_body())

        scores = self.scores()
        grounded, polite = scores["grounded"], scores["polite"]
        assert (grounded.data_type, grounded.value, grounded.shown_value) == ("boolean", 1.0, "1")
        assert (polite.data_type, polite.value, polite.shown_value) == ("boolean", 0.0, "0")
        # the runs list's "passed" / "failed" filter
        passed = score_selectors.traces_with_score(self.project, "grounded", result="pass")
        failed = score_selectors.traces_with_score(self.project, "polite", result="fail")
        assert [row["trace_id"] for row in passed] == [row["trace_id"] for row in failed] == [trace_id]

    def test_exporting_the_same_spans_again_does_not_double_the_scores(self):
        sdk = Sdk("support-bot")
        with sdk.tracer.start_as_current_span("invoke_agent support-bot") as root:
            root.add_event(EVAL, {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 4})

        self.send("/v1/traces", sdk.traces_body())
        self.send("/v1/traces", sdk.traces_body())

        assert Score.objects.filter(project=self.project).count() == 1

    def test_log_records_become_scores_even_before_their_run_arrives(self):
        agent = Sdk("support-bot")
        evaluator = Sdk("eval-worker")
        with (
            agent.tracer.start_as_current_span("invoke_agent support-bot") as root,
            agent.tracer.start_as_current_span("chat gpt-4o") as call,
        ):
            evaluator.logger.emit(
                event_name=EVAL,
                attributes={
                    "gen_ai.evaluation.name": "correctness",
                    "gen_ai.evaluation.score.value": 0.0,
                    "gen_ai.evaluation.score.label": "fail",
                    "gen_ai.evaluation.explanation": "the refund policy is 30 days, not 14",
                },
            )

        self.send("/v1/logs", evaluator.logs_body())  # the evaluation arrives first
        self.send("/v1/traces", agent.traces_body())

        run = Run.objects.get(project=self.project)
        score = Score.objects.get(project=self.project)
        assert (score.trace_id, score.span_id) == (run.trace_id, format_span_id(call.get_span_context().span_id))
        assert run.trace_id == format_trace_id(root.get_span_context().trace_id)
        assert (score.name, score.data_type, score.value, score.label) == ("correctness", "boolean", 0.0, "fail")
        assert (score.source, score.author) == ("otel", "eval-worker")
        assert score.explanation == "the refund policy is 30 days, not 14"

    def test_a_log_record_without_a_trace_is_not_a_score(self):
        evaluator = Sdk("eval-worker")
        evaluator.logger.emit(
            event_name=EVAL, attributes={"gen_ai.evaluation.name": "x", "gen_ai.evaluation.score.value": 1}
        )

        self.send("/v1/logs", evaluator.logs_body())

        assert not Score.objects.exists()

    def test_scores_land_in_the_project_of_the_key_that_sent_them(self):
        other, _ = make_project("Rival", org_slug="rival")
        sdk = Sdk("support-bot")
        with sdk.tracer.start_as_current_span("invoke_agent support-bot") as root:
            root.add_event(EVAL, {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 4})

        self.send("/v1/traces", sdk.traces_body())

        assert Score.objects.filter(project=self.project).count() == 1
        assert not Score.objects.filter(project=other).exists()


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"gen_ai.evaluation.score.value": 4.5}, ("numeric", 4.5, "")),
        (
            {"gen_ai.evaluation.score.value": "0.7", "gen_ai.evaluation.score.label": "relevant"},
            ("numeric", 0.7, "relevant"),
        ),
        ({"gen_ai.evaluation.score.label": "relevant"}, ("categorical", None, "relevant")),
        ({"gen_ai.evaluation.score.label": "FAIL"}, ("boolean", 0.0, "FAIL")),
        ({"gen_ai.evaluation.score.value": 1, "gen_ai.evaluation.score.label": "pass"}, ("boolean", 1.0, "pass")),
        ({"gen_ai.evaluation.score.value": 0.6, "gen_ai.evaluation.score.label": "pass"}, ("numeric", 0.6, "pass")),
        ({"gen_ai.evaluation.score.value": True}, ("boolean", 1.0, "")),
    ],
)
def test_an_evaluation_event_reads_as_a_number_a_verdict_or_a_category(attributes, expected):
    verdict = otel.verdict({"gen_ai.evaluation.name": "check", **attributes})
    assert verdict is not None
    assert (verdict.data_type, verdict.value, verdict.label) == expected


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.evaluation.score.value": 1},  # no name
        {"gen_ai.evaluation.name": "check"},  # neither value nor label
        {"gen_ai.evaluation.name": "check", "gen_ai.evaluation.score.value": float("nan")},
        {"gen_ai.evaluation.name": "check", "gen_ai.evaluation.score.value": 1, "error.type": "timeout"},
    ],
)
def test_an_event_without_a_usable_score_is_skipped(attributes):
    assert otel.verdict(attributes) is None
