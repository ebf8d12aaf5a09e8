"""Langfuse generations whose `usage_details` hold a provider's raw usage object (what Langfuse's
OpenAI wrapper, and any code handing a provider's usage to a generation, writes) count the tokens
and cost the provider billed: the same as the equivalent `gen_ai.usage.*` span, priced at the
same cache-read, cache-write and reasoning rates. Langfuse's own bucket names read as before."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ingest.conventions import normalize
from ingest.models import Span
from tests.factories import make_project
from tests.ingest import spans
from tests.ingest.test_conventions import make_span

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

# (label, model, provider's raw usage object, the same usage as GenAI attributes, expected counts)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], tuple[int | None, ...]]] = [
    (
        "openai chat",
        "gpt-4o-mini",
        {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
         "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0}},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 100},
        (1200, 300, 1000, None, 100),
    ),
    (
        "openai chat, flattened details",
        "gpt-4o-mini",
        {"prompt_tokens": 1200, "completion_tokens": 300, "prompt_tokens_details.cached_tokens": 1000,
         "completion_tokens_details.reasoning_tokens": 100},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 100},
        (1200, 300, 1000, None, 100),
    ),
    (
        "openai responses",
        "o4-mini",
        {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000}, "output_tokens": 300,
         "output_tokens_details": {"reasoning_tokens": 250}, "total_tokens": 1500},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 250},
        (1200, 300, 1000, None, 250),
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        {"input_tokens": 200, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 50, "output_tokens": 80},
        {"gen_ai.usage.input_tokens": 1250, "gen_ai.usage.output_tokens": 80,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.cache_creation.input_tokens": 50},
        (1250, 80, 1000, 50, None),
    ),
    (
        "gemini",
        "gemini-2.5-flash",
        {"promptTokenCount": 1200, "cachedContentTokenCount": 1000, "candidatesTokenCount": 200,
         "thoughtsTokenCount": 100, "totalTokenCount": 1500},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 100},
        (1200, 300, 1000, None, 100),
    ),
    (
        "gemini, python sdk names",
        "gemini-2.5-flash",
        {"prompt_token_count": 1200, "cached_content_token_count": 1000, "candidates_token_count": 200,
         "thoughts_token_count": 100, "total_token_count": 1500},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 100},
        (1200, 300, 1000, None, 100),
    ),
    (
        "langfuse buckets with a raw total",
        "gpt-4o-mini",
        {"input": 200, "input_cached_tokens": 1000, "output": 250, "output_reasoning_tokens": 50, "total_tokens": 1500},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.reasoning.output_tokens": 50},
        (1200, 300, 1000, None, 50),
    ),
    (
        "anthropic raw beside a langfuse cache-write bucket",
        "claude-sonnet-4-5",
        {"input_tokens": 200, "cache_read_input_tokens": 1000, "input_cache_creation": 50, "output_tokens": 80},
        {"gen_ai.usage.input_tokens": 1250, "gen_ai.usage.output_tokens": 80,
         "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.cache_creation.input_tokens": 50},
        (1250, 80, 1000, 50, None),
    ),
    (
        "langfuse's own name wins over the raw one",
        "gpt-4o-mini",
        {"input": 200, "prompt_tokens": 999, "prompt_tokens_details": {"cached_tokens": 1000},
         "completion_tokens": 300},
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
         "gen_ai.usage.cache_read.input_tokens": 1000},
        (1200, 300, 1000, None, None),
    ),
]  # fmt: skip
IDS = [case[0] for case in CASES]


def langfuse_generation(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": model,
        "langfuse.observation.usage_details": json.dumps(usage),
    }


def genai_chat(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, **usage}


@pytest.mark.parametrize(("label", "model", "raw", "genai", "expected"), CASES, ids=IDS)
def test_raw_usage_counts_like_the_genai_attributes(label, model, raw, genai, expected):
    fields = normalize(make_span("generation", langfuse_generation(model, raw), scope="langfuse-sdk"))
    assert tuple(getattr(fields, name) for name in TOKENS) == expected
    same = normalize(make_span("chat", genai_chat(model, genai)))
    assert tuple(getattr(same, name) for name in TOKENS) == expected
    assert "langfuse.observation.usage_details" not in fields.unmapped


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "model", "raw", "genai", "expected"), CASES, ids=IDS)
def test_raw_usage_is_priced_like_the_genai_attributes(label, model, raw, genai, expected):
    project, _ = make_project()
    trace_id = spans.new_trace_id()
    start = datetime.now(UTC)
    items = []
    for name, attributes in (("langfuse", langfuse_generation(model, raw)), ("genai", genai_chat(model, genai))):
        raw_span = make_span(name, attributes, scope="langfuse-sdk" if name == "langfuse" else "")
        raw_span = dataclasses.replace(raw_span, trace_id=trace_id, span_id=spans.new_span_id(),
                                       start_ns=spans.ns(start), end_ns=spans.ns(start) + 10**9)  # fmt: skip
        items.append((raw_span, normalize(raw_span)))
    spans.ingest(project, items)

    langfuse, genai = (Span.objects.get(project=project, name=name) for name in ("langfuse", "genai"))
    assert langfuse.cost_source == genai.cost_source == "computed"
    assert langfuse.cost_usd == genai.cost_usd
    assert langfuse.cost_usd > Decimal(0)


def test_a_reported_cost_details_total_is_kept_as_reported():
    fields = normalize(make_span("generation", {
        **langfuse_generation("gpt-4o-mini", {"prompt_tokens": 10, "completion_tokens": 5}),
        "langfuse.observation.cost_details": json.dumps({"input": 0.0000015, "output": 0.000003}),
    }, scope="langfuse-sdk"))  # fmt: skip
    assert fields.reported_cost == Decimal("0.0000045")
    assert (fields.input_tokens, fields.output_tokens) == (10, 5)


@pytest.mark.django_db
def test_per_modality_usage_is_priced_at_its_rate_and_text_keys_are_understood():
    project, _ = make_project()
    trace_id, start = spans.new_trace_id(), datetime.now(UTC)
    common = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash",
              "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}  # fmt: skip
    items = []
    for name, extra in (("text", {"gen_ai.usage.text.input_tokens": 1000}),
                        ("audio", {"gen_ai.usage.audio.input_tokens": 500, "gen_ai.usage.text.input_tokens": 500})):  # fmt: skip
        raw_span = dataclasses.replace(make_span(name, {**common, **extra}), trace_id=trace_id, span_id=spans.new_span_id(),
                                       start_ns=spans.ns(start), end_ns=spans.ns(start) + 10**9)  # fmt: skip
        fields = normalize(raw_span)
        assert not [key for key in fields.unmapped if key.startswith("gen_ai.usage.")]
        items.append((raw_span, fields))
    spans.ingest(project, items)
    text, audio = (Span.objects.get(project=project, name=name) for name in ("text", "audio"))
    assert audio.modality_tokens == {"input_audio_tokens": 500} and text.modality_tokens == {}
    assert audio.cost_usd > text.cost_usd > Decimal(0)
