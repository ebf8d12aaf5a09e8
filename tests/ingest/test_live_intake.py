"""End to end: real instrumentation libraries and real OTLP exporters against a live AgentLedger.

The `openai` client, instrumented by OpenTelemetry's `opentelemetry-instrumentation-openai-v2`
or by Arize's `openinference-instrumentation-openai`, talks to the fake LLM provider
(`tests/fakes/llm_server.py`). Its spans (and openai-v2's message events, which travel on the
logs signal) leave through the SDK's real OTLP exporters: OTLP/HTTP protobuf to pytest-django's
`live_server` (a real WSGI server on a real port) or OTLP/gRPC to `grpc_server.build_server`
started in this process. Both write to the test database, which the tests then read the way the
dashboard does.

The agent program is the one a user writes from the README: an `invoke_agent weather-bot` span
around two questions, each answered with a `get_weather` tool round (the second city is unknown,
so the tool raises and the agent recovers), then one call to a model the provider rejects.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import openai
import pytest
from django.db import connection
from django.db.models import Model
from openinference.instrumentation.openai import (
    OpenAIInstrumentor as OpenInferenceInstrumentor,
)
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Tracer

from ingest import grpc_server
from ingest.models import LogRecord, Run, Span
from tenancy.models import Project
from tests import otlp_payloads
from tests.factories import make_project
from tests.fakes.llm_server import FakeLLMServer

AGENT_NAME = "weather-bot"
MODEL = "gpt-4o-mini"
ERROR_MODEL = "gpt-4o-mini-error"  # the fake provider answers 400 for it
SYSTEM_PROMPT = "You are weather-bot. Answer weather questions with the get_weather tool."
QUESTIONS = ["What's the weather in Paris?", "And what is the weather in Atlantis?"]
FORECASTS = {"Paris": "Sunny, 22°C"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WRONG_KEY = "al_not-a-key-of-any-project"

TOTALS = ["span_count", "llm_calls", "failed_llm_calls", "tool_calls", "tool_errors", "input_tokens",
          "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"]  # fmt: skip

# Live servers answer from their own threads: the data must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True)


# --- the agent program ------------------------------------------------------------------


def get_weather(city: str) -> str:
    if city not in FORECASTS:
        raise ValueError(f"Unknown city: {city}")
    return f"{FORECASTS[city]} in {city}"


def execute_tool(tracer: Tracer, name: str, arguments: str, call_id: str) -> str:
    """An `execute_tool` span per the OTel GenAI conventions; a raising tool ends it in ERROR
    with the exception recorded (the SDK's default), and the agent feeds the error back."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.arguments": arguments,
    }
    try:
        with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
            result = get_weather(**json.loads(arguments))
            span.set_attribute("gen_ai.tool.call.result", result)
            return result
    except ValueError as exc:
        return f"Error: {exc}"


def run_weather_bot(tracer: Tracer, llm: FakeLLMServer) -> None:
    client = openai.OpenAI(base_url=f"{llm.url}/v1", api_key="sk-test", max_retries=0)
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT_NAME}
    with tracer.start_as_current_span(f"invoke_agent {AGENT_NAME}", attributes=agent):
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        for question in QUESTIONS:
            messages.append({"role": "user", "content": question})
            asked = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
            message = asked.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                result = execute_tool(tracer, call.function.name, call.function.arguments, call.id)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            answer = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
            messages.append({"role": "assistant", "content": answer.choices[0].message.content})
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=ERROR_MODEL, messages=messages)


# --- what the run must add up to ---------------------------------------------------------


def openai_v2_instrumentor() -> BaseInstrumentor:
    # Imported here so that an install it cannot import in fails only the openai-v2 tests:
    # 2.4b0 imports `httpx` without requiring it (openai 3 brings the `httpx2` fork
    # instead) and `opentelemetry.util.genai.instruments` (gone from util-genai 1.2b0 on).
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    return OpenAIInstrumentor()


@dataclass(frozen=True)
class Instrumentation:
    name: str
    instrumentor: Callable[[], BaseInstrumentor]
    env: dict[str, str]
    content_on_logs: bool  # message content travels as log events, not span attributes
    records_token_details: bool  # cached-prompt and reasoning token counts
    # The model AgentLedger can tell for the call the provider refused.
    failed_call_model: str


INSTRUMENTATIONS = [
    # openai-v2 2.4b0 always writes the latest GenAI conventions (util-genai's
    # is_experimental_mode() answers true whatever the environment), so content capture
    # takes util-genai's modes, of which the README's "true" is not one (it means no
    # content). "event_only" puts prompts and completions only on the logs signal, in one
    # gen_ai.client.inference.operation.details event per call. It records prompt and
    # completion tokens but neither cached nor reasoning tokens; a refused call keeps
    # its requested model.
    Instrumentation(
        "openai_v2",
        openai_v2_instrumentor,
        {
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only",
        },
        content_on_logs=True,
        records_token_details=False,
        failed_call_model=ERROR_MODEL,
    ),
    # OpenInference records content on the span (llm.input_messages.*) by default, and the
    # cached (prompt_details.cache_read) and reasoning (completion_details.reasoning) counts.
    # It writes llm.model_name from the response only: a refused call names its model only
    # inside the llm.invocation_parameters JSON, which the normalizer reads as a last resort.
    Instrumentation(
        "openinference",
        OpenInferenceInstrumentor,
        {},
        content_on_logs=False,
        records_token_details=True,
        failed_call_model=ERROR_MODEL,
    ),
]


def expected_totals(llm: FakeLLMServer, instrumentation: Instrumentation) -> dict[str, int]:
    """What the user must see: usage summed over the calls the fake provider answered."""
    answered = [r.usage for r in llm.requests if r.status == HTTPStatus.OK and r.usage]
    details = instrumentation.records_token_details
    return {
        "span_count": 1 + len(llm.requests) + 2,  # agent, every call, two tool runs
        "llm_calls": len(llm.requests),
        "failed_llm_calls": len(llm.requests) - len(answered),
        "tool_calls": 2,
        "tool_errors": 1,
        "input_tokens": sum(u["prompt_tokens"] for u in answered),
        "output_tokens": sum(u["completion_tokens"] for u in answered),
        "cache_read_tokens": sum(u["prompt_tokens_details"]["cached_tokens"] for u in answered) if details else 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": sum(u["completion_tokens_details"]["reasoning_tokens"] for u in answered) if details else 0,
    }  # fmt: skip


def totals(run: Run) -> dict[str, int]:
    return {f: getattr(run, f) for f in TOTALS}


def stored_rows(project: Project) -> dict[str, int]:
    return {
        "runs": Run.objects.filter(project=project).count(),
        "spans": Span.objects.filter(project=project).count(),
        "log_records": LogRecord.objects.filter(project=project).count(),
    }


# --- the OTel pipeline: real exporters, recorded results ----------------------------------


class RecordingSpanExporter(SpanExporter):
    """Passes every batch to a real exporter and keeps the batch and the exporter's result."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans: list[ReadableSpan] = []
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.spans.extend(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


class RecordingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self.records: list[ReadableLogRecord] = []
        self.results: list[LogRecordExportResult] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        self.records.extend(batch)
        self.results.append(result)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self.inner.shutdown()


@dataclass(frozen=True)
class Collector:
    """Where the exporters send: the live Django server or the in-process gRPC server."""

    transport: str  # "http" or "grpc"
    address: str  # http://host:port for HTTP, host:port for gRPC

    def span_exporter(self, key: str) -> SpanExporter:
        if self.transport == "http":
            return HttpSpanExporter(
                endpoint=f"{self.address}/v1/traces",
                headers={"Authorization": f"Bearer {key}"},
            )
        return GrpcSpanExporter(
            endpoint=self.address,
            insecure=True,
            headers=(("authorization", f"Bearer {key}"),),
        )

    def log_exporter(self, key: str) -> LogRecordExporter:
        if self.transport == "http":
            return HttpLogExporter(
                endpoint=f"{self.address}/v1/logs",
                headers={"Authorization": f"Bearer {key}"},
            )
        return GrpcLogExporter(
            endpoint=self.address,
            insecure=True,
            headers=(("authorization", f"Bearer {key}"),),
        )


@contextmanager
def grpc_collector() -> Iterator[Collector]:
    server, port = grpc_server.build_server("127.0.0.1:0")
    server.start()
    try:
        yield Collector("grpc", f"127.0.0.1:{port}")
    finally:
        server.stop(grace=None).wait(timeout=5)
        end_grpc_worker_sessions()


def end_grpc_worker_sessions() -> None:
    """The server's worker threads outlive it with their database connections open (kept for
    CONN_MAX_AGE, or left by a refused key), and PostgreSQL drops no database in use."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(params=["http", "grpc"])
def collector(request: pytest.FixtureRequest) -> Iterator[Collector]:
    if request.param == "http":
        yield Collector("http", request.getfixturevalue("live_server").url)
    else:
        with grpc_collector() as grpc_address:
            yield grpc_address


@dataclass(frozen=True)
class Export:
    spans: RecordingSpanExporter
    logs: RecordingLogExporter
    llm: FakeLLMServer  # stopped; its `requests` say what the provider answered

    @property
    def results(self) -> set[Any]:
        return {*self.spans.results, *self.logs.results}

    def again(self) -> set[Any]:
        """Re-send everything exported, as an exporter retrying after a lost response would."""
        return {
            self.spans.inner.export(self.spans.spans),
            self.logs.inner.export(self.logs.records),
        }


def export_weather_bot(
    instrumentation: Instrumentation,
    span_exporter: SpanExporter,
    log_exporter: LogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> Export:
    """Run the agent under `instrumentation` with its own providers, every span and log
    record exported as it ends; leaves no instrumentation behind."""
    for name, value in instrumentation.env.items():
        monkeypatch.setenv(name, value)  # read by instrument()
    spans, logs = (
        RecordingSpanExporter(span_exporter),
        RecordingLogExporter(log_exporter),
    )
    resource = Resource.create({"service.name": AGENT_NAME})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    instrumentor = instrumentation.instrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        with FakeLLMServer() as llm:
            run_weather_bot(tracer_provider.get_tracer("weather_bot.agent"), llm)
    finally:
        instrumentor.uninstrument()
        tracer_provider.force_flush()
        logger_provider.force_flush()
    return Export(spans, logs, llm)


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS, ids=lambda i: i.name)
class TestInstrumentedAgent:
    def test_agent_run_arrives_as_one_run_with_the_providers_numbers(self, instrumentation, collector, monkeypatch):
        project, key = make_project()
        export = export_weather_bot(
            instrumentation,
            collector.span_exporter(key),
            collector.log_exporter(key),
            monkeypatch,
        )
        assert export.results <= {
            SpanExportResult.SUCCESS,
            LogRecordExportResult.SUCCESS,
        }

        run = Run.objects.get(project=project)
        assert (run.name, run.agent_name, run.service_name, run.has_root) == (
            f"invoke_agent {AGENT_NAME}",
            AGENT_NAME,
            AGENT_NAME,
            True,
        )
        assert run.status == "ok", "a recovered tool error does not fail the run"
        assert totals(run) == expected_totals(export.llm, instrumentation)

        spans = Span.objects.filter(project=project)
        kinds = sorted(spans.values_list("kind", flat=True))
        assert kinds == ["agent"] + ["llm"] * 5 + ["tool"] * 2

        calls = spans.filter(kind="llm").order_by("start_time")
        failed_model = instrumentation.failed_call_model
        assert [(c.provider, c.request_model, c.response_model, c.is_error) for c in calls] == [
            *[("openai", MODEL, MODEL, False)] * 4,
            ("openai", failed_model, failed_model, True),  # no response: the requested model
        ]  # fmt: skip
        for call in calls[:4]:
            assert isinstance(call.input, list) and call.input, call.input
            assert all(m.get("role") for m in call.input), call.input
            assert call.output, "the completion's message arrived too"
        assert calls[0].input[0]["role"] == "system"

        tools = spans.filter(kind="tool").order_by("start_time")
        assert [(t.tool_name, t.is_error) for t in tools] == [
            ("get_weather", False),
            ("get_weather", True),
        ]
        assert "Unknown city: Atlantis" in tools[1].error_message
        assert [e["name"] for e in tools[1].events] == ["exception"]

        records = LogRecord.objects.filter(project=project)
        if instrumentation.content_on_logs:
            # Only the logs signal carried the messages: they were joined to their spans.
            assert {(r.trace_id, r.span_id) for r in records} >= {(c.trace_id, c.span_id) for c in calls[:4]}
            assert not any("gen_ai.input.messages" in c.attributes for c in calls)
        else:
            assert not records.exists()

    def test_exporting_the_same_spans_again_changes_nothing(self, instrumentation, collector, monkeypatch):
        project, key = make_project()
        export = export_weather_bot(
            instrumentation,
            collector.span_exporter(key),
            collector.log_exporter(key),
            monkeypatch,
        )
        before_rows, before_totals = stored_rows(project), totals(Run.objects.get())

        assert export.again() == {
            SpanExportResult.SUCCESS,
            LogRecordExportResult.SUCCESS,
        }
        assert stored_rows(project) == before_rows
        assert totals(Run.objects.get()) == before_totals

    def test_wrong_key_fails_the_export_and_stores_nothing(self, instrumentation, collector, monkeypatch):
        make_project()
        export = export_weather_bot(
            instrumentation,
            collector.span_exporter(WRONG_KEY),
            collector.log_exporter(WRONG_KEY),
            monkeypatch,
        )
        assert export.spans.results
        assert export.results <= {
            SpanExportResult.FAILURE,
            LogRecordExportResult.FAILURE,
        }
        assert not Run.objects.exists()
        assert not Span.objects.exists()
        assert not LogRecord.objects.exists()


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS, ids=lambda i: i.name)
def test_grpc_and_http_store_the_same_run_for_the_same_export(instrumentation, live_server, monkeypatch):
    """One agent run, its spans and log records sent by both exporters to two projects."""
    over_http, http_key = make_project("over http")
    over_grpc, grpc_key = make_project("over grpc")
    http = Collector("http", live_server.url)
    with grpc_collector() as grpc:
        export = export_weather_bot(
            instrumentation,
            http.span_exporter(http_key),
            http.log_exporter(http_key),
            monkeypatch,
        )
        assert export.results <= {
            SpanExportResult.SUCCESS,
            LogRecordExportResult.SUCCESS,
        }
        assert grpc.span_exporter(grpc_key).export(export.spans.spans) == SpanExportResult.SUCCESS
        assert grpc.log_exporter(grpc_key).export(export.logs.records) == LogRecordExportResult.SUCCESS  # fmt: skip

    assert stored_rows(over_grpc) == stored_rows(over_http)
    run_fields = [f.name for f in Run._meta.fields if f.name not in ("id", "project", "api_key", "updated_at")]  # fmt: skip
    http_run, grpc_run = (
        Run.objects.get(project=over_http),
        Run.objects.get(project=over_grpc),
    )
    assert _values(grpc_run, run_fields) == _values(http_run, run_fields)
    assert totals(grpc_run) == expected_totals(export.llm, instrumentation)
    span_fields = [f.name for f in Span._meta.fields if f.name not in ("id", "project", "api_key", "received_at")]  # fmt: skip
    by_id = {s.span_id: s for s in Span.objects.filter(project=over_http)}
    for span in Span.objects.filter(project=over_grpc):
        assert _values(span, span_fields) == _values(by_id[span.span_id], span_fields)


def _values(row: Model, fields: list[str]) -> dict[str, Any]:
    return {f: getattr(row, f) for f in fields}


# --- a hand-built OTLP/JSON request posted with urllib ---------------------------------------


HANDMADE = (otlp_payloads.FIXTURES / "handmade_genai.json").read_bytes()
HANDMADE_EXPECTED = json.loads((otlp_payloads.FIXTURES / "handmade_genai.expected.json").read_text())


def post_traces(url: str, body: bytes, key: str, *, encoding: str = "") -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(f"{url}/v1/traces", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def assert_handmade_run(project: Project) -> None:
    e = HANDMADE_EXPECTED
    run = Run.objects.get(project=project)
    assert (run.trace_id, run.agent_name, run.session_id, run.user_id) == (
        e["trace_id"],
        e["agent_name"],
        e["session_id"],
        e["user_id"],
    )
    assert (run.name, run.service_name, run.environment) == (
        e["run_name"],
        e["service_name"],
        e["environment"],
    )
    usage = e["usage"]
    assert totals(run) == {
        "span_count": len(e["spans"]),
        "llm_calls": e["llm_calls"],
        "failed_llm_calls": 0,
        "tool_calls": e["tool_calls"],
        "tool_errors": e["tool_errors"],
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_read_tokens": usage["cache_read_tokens"],
        "cache_write_tokens": usage["cache_creation_tokens"],
        "reasoning_tokens": usage["reasoning_tokens"],
    }
    assert run.duration_ms == e["duration_ms"]
    assert run.status == "ok", "a recovered tool error does not fail the run"


class TestHandmadeJson:
    @pytest.mark.parametrize(("encoding", "compress"), [("", bytes), ("gzip", gzip.compress)])
    def test_posted_json_becomes_the_expected_run(self, live_server, encoding, compress):
        project, key = make_project()
        status, body = post_traces(live_server.url, compress(HANDMADE), key, encoding=encoding)
        assert (status, json.loads(body)) == (200, {})
        assert_handmade_run(project)

    def test_posting_the_same_body_twice_leaves_totals_unchanged(self, live_server):
        project, key = make_project()
        assert post_traces(live_server.url, HANDMADE, key)[0] == 200
        before_rows, before_totals = stored_rows(project), totals(Run.objects.get())

        assert post_traces(live_server.url, HANDMADE, key)[0] == 200
        assert stored_rows(project) == before_rows
        assert totals(Run.objects.get()) == before_totals
        assert_handmade_run(project)

    def test_wrong_key_is_401_and_stores_nothing(self, live_server):
        make_project()
        status, body = post_traces(live_server.url, HANDMADE, WRONG_KEY)
        assert status == 401
        assert json.loads(body)["code"] == 401
        assert not Span.objects.exists()
        assert not Run.objects.exists()
