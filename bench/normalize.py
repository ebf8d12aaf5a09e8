"""Normalizer benchmark: µs per span for `ingest.conventions.normalize`, no database.

Run by hand (not part of the test suite):

    .venv/bin/python bench/normalize.py            # synthetic spans + captured OTLP payloads
    .venv/bin/python bench/normalize.py --profile  # cProfile of the OTel GenAI chat span
    .venv/bin/python bench/normalize.py --redact   # normalize alone, then + redaction (secrets and PII)

Synthetic spans imitate what real instrumentations send (an OTel GenAI chat span with
~1 KB message JSON, an OpenInference LLM span with flattened messages, a tool span, an
agent span); the payloads are the captures in tests/fixtures/otlp/*.traces.pb.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench")

from ingest import native, redaction  # noqa: E402
from ingest.conventions import normalize  # noqa: E402
from ingest.otlp import decode_traces  # noqa: E402
from ingest.records import RawSpan  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "otlp"
QUESTION = "What is the weather in Paris tomorrow, and should I book a table outside at eight? " * 4
ANSWER = "Tomorrow in Paris: 21°C and sunny in the evening, so a table outside at eight works well. " * 4


def _span(name: str, attributes: dict[str, Any], scope: str) -> RawSpan:
    return RawSpan(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id="a3ce929d0e0e4736",
        name=name,
        kind=3,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_001_000_000_000,
        attributes=attributes,
        resource={"service.name": "bench-agent", "deployment.environment.name": "prod"},
        scope_name=scope,
        scope_version="0.5b0",
    )


def genai_chat() -> RawSpan:
    inputs = [
        {"role": "system", "parts": [{"type": "text", "content": "You are a helpful travel assistant."}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    outputs = [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": ANSWER},
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "stop",
        }
    ]
    return _span(
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-9x7Yz",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 312,
            "gen_ai.usage.output_tokens": 96,
            "server.address": "api.openai.com",
            "gen_ai.input.messages": json.dumps(inputs),
            "gen_ai.output.messages": json.dumps(outputs),
        },
        "opentelemetry.instrumentation.openai_v2",
    )


def openinference_llm() -> RawSpan:
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.2}),
        "llm.token_count.prompt": 312,
        "llm.token_count.completion": 96,
        "llm.token_count.total": 408,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are a helpful travel assistant.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": QUESTION,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": ANSWER,
        "input.value": json.dumps({"messages": [{"role": "user", "content": QUESTION}]}),
        "input.mime_type": "application/json",
        "output.value": json.dumps({"choices": [{"message": {"role": "assistant", "content": ANSWER}}]}),
        "output.mime_type": "application/json",
        "session.id": "sess-42",
    }
    return _span("ChatCompletion", attributes, "openinference.instrumentation.openai")


def tool_call() -> RawSpan:
    return _span(
        "execute_tool get_weather",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps({"city": "Paris", "day": "tomorrow"}),
            "gen_ai.tool.call.result": json.dumps({"temperature_c": 21, "sky": "sunny"}),
            "gen_ai.agent.name": "travel",
        },
        "pydantic-ai",
    )


def agent_run() -> RawSpan:
    return _span(
        "invoke_agent travel",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "travel",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 340,
            "gen_ai.conversation.id": "conv-7",
            "logfire.msg": "travel run",
        },
        "pydantic-ai",
    )


SYNTHETIC: dict[str, Callable[[], RawSpan]] = {
    "otel genai chat": genai_chat,
    "openinference llm": openinference_llm,
    "tool": tool_call,
    "agent": agent_run,
}


def captured_spans() -> list[RawSpan]:
    spans: list[RawSpan] = []
    for path in sorted(FIXTURES.glob("*.traces.pb")):
        decoded = decode_traces(path.read_bytes(), content_type="application/x-protobuf", max_bytes=50_000_000)
        spans.extend(decoded.spans)
    return spans


def _median_seconds(spans: list[RawSpan], repeats: int, loops: int) -> float:
    """Median over `repeats` of the time to normalize every span `loops` times, per span."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            for span in spans:
                normalize(span)
        timings.append((time.perf_counter() - start) / (loops * len(spans)))
    return statistics.median(timings)


def _redaction_cost(spans: list[RawSpan], repeats: int, loops: int) -> tuple[float, float]:
    """(normalize, redact) seconds per span, each the best of `repeats` runs measured in turn, so
    load from other processes on the machine weighs on both alike."""
    policy = redaction.Policy(secrets=True, pii=True, pseudonym_key=b"bench")
    normalized = [(span, normalize(span)) for span in spans]
    best_normalize = best_redact = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            for span in spans:
                normalize(span)
        best_normalize = min(best_normalize, (time.perf_counter() - start) / (loops * len(spans)))
        start = time.perf_counter()
        for _ in range(loops):
            for span, fields in normalized:
                redaction.span(span, fields, policy)
        best_redact = min(best_redact, (time.perf_counter() - start) / (loops * len(spans)))
    return best_normalize, best_redact


def _report(label: str, seconds: float) -> None:
    print(f"{label:<28} {seconds * 1e6:9.1f} µs/span {1 / seconds:11,.0f} spans/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loops", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile the OTel GenAI chat span")
    parser.add_argument("--redact", action="store_true", help="also time normalize + redaction (secrets and PII)")
    args = parser.parse_args()

    if args.profile:
        span = genai_chat()
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [normalize(span) for _ in range(2000)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    print("normalizer:", "compiled (mypyc)" if native.is_compiled() else "plain Python (`make install` compiles it)")
    captured = captured_spans()
    if args.redact:
        groups = {label: [build()] for label, build in SYNTHETIC.items()} | {
            f"captured ({len(captured)} spans)": captured
        }
        for label, spans in groups.items():
            loops = args.loops if len(spans) == 1 else max(1, args.loops // 10)
            normalize_s, redact_s = _redaction_cost(spans, args.repeats, loops)
            print(f"{label:<24} normalize {normalize_s * 1e6:7.1f} µs/span  + redact {redact_s * 1e6:7.1f} µs/span"
                  f"  (+{redact_s / normalize_s:.0%})")  # fmt: skip
        return

    for label, build in SYNTHETIC.items():
        _report(label, _median_seconds([build()], args.repeats, args.loops))
    _report(f"captured ({len(captured)} spans)", _median_seconds(captured, args.repeats, max(1, args.loops // 10)))


if __name__ == "__main__":
    main()
