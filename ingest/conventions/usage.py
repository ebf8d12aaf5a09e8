"""Token counts and reported cost, with the inclusive/exclusive cache rule (docs/conventions.md, "Token usage").

Output contract: `input_tokens` ALWAYS includes cache reads and cache writes; `output_tokens`
includes reasoning. Emitters disagree (SC and OpenInference count cache inside the input,
Anthropic's native usage and Langfuse's buckets do not), so the meaning of the input count
is decided BY THE SOURCE: the attribute family that carried it plus the instrumentation
scope, in the table `CACHE_BASIS` below (one test per row). Only when no row knows the
source does the arithmetic hint decide. Counts from different keys are never summed,
except cache into an exclusive input, and `details.*` keys never feed a total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from ingest.conventions import langfuse, openinference, pydantic_ai, vercel_ai
from ingest.conventions.langfuse import UsageDetail
from ingest.conventions.span_view import Source, SpanView, first, first_with_source
from ingest.conventions.values import MAX_COUNT, as_cost, as_count
from ingest.records import SpanKind

# --- Priority lists: docs/conventions.md, "Token keys", key for key. ----------------------
# "(addition)" marks keys none of the sources lists, with where they were seen.

INPUT_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.input_tokens",  # OTel
    "gen_ai.usage.prompt_tokens",  # OTel†
    "llm.token_count.prompt",  # OI
    "ai.usage.inputTokens",  # VAI v5+
    "ai.usage.promptTokens",  # VAI v4
    UsageDetail("input"),  # LF (exclusive bucket)
)
OUTPUT_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.output_tokens",  # OTel
    "gen_ai.usage.completion_tokens",  # OTel†
    "llm.token_count.completion",  # OI
    "ai.usage.outputTokens",  # VAI v5+
    "ai.usage.completionTokens",  # VAI v4
    UsageDetail("output"),  # LF (reasoning is its own bucket)
)
# No SpanFields slot: read for the arithmetic hint, and so the keys count as understood.
TOTAL_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.total_tokens",  # TL
    "llm.usage.total_tokens",  # TL†
    "llm.token_count.total",  # OI
    "ai.usage.totalTokens",  # VAI v5+
    "ai.usage.tokens",  # VAI v4
    UsageDetail("total"),  # LF
)
CACHE_READ_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.cache_read.input_tokens",  # OTel 1.40+
    "gen_ai.usage.cache_read_input_tokens",  # TL† (renamed in TL 0.5); Strands
    "gen_ai.usage.details.cache_read_tokens",  # PAI
    "gen_ai.usage.details.cache_read_input_tokens",  # (addition) PAI ≤1.x Anthropic raw details
    "gen_ai.usage.input_tokens.cached",  # X: Sentry
    "llm.token_count.prompt_details.cache_read",  # OI
    "ai.usage.cachedInputTokens",  # VAI v5+
    "ai.usage.inputTokenDetails.cacheReadTokens",  # (addition) VAI v6+
    *vercel_ai.CACHE_READ_METADATA,  # (addition) VAI <6 keeps cache usage in providerMetadata; LF reads it
    *pydantic_ai.CACHE_READ_RAW,  # (addition) Logfire `gen_ai.usage.raw`
    # (addition) ADK: Gemini's cached count; Langfuse reads it for scope gcp.vertex.agent.
    "gcp.vertex.agent.llm_response.usage_metadata.cached_content_token_count",
    UsageDetail("input_cached_tokens"),  # LF
    UsageDetail("cache_read_input_tokens"),  # LF
)
CACHE_WRITE_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.cache_creation.input_tokens",  # OTel, TL
    "gen_ai.usage.cache_write.input_tokens",  # (addition) OTel util-genai, SDK-native tracing (pitfall 1)
    "gen_ai.usage.cache_creation_input_tokens",  # TL†
    "gen_ai.usage.cache_write_input_tokens",  # (addition) Strands
    "gen_ai.usage.details.cache_write_tokens",  # PAI
    "gen_ai.usage.details.cache_creation_input_tokens",  # (addition) PAI ≤1.x Anthropic raw details
    "llm.token_count.prompt_details.cache_write",  # OI
    "ai.usage.inputTokenDetails.cacheWriteTokens",  # (addition) VAI v6+
    *vercel_ai.CACHE_WRITE_METADATA,  # (addition) VAI <6
    *pydantic_ai.CACHE_WRITE_RAW,  # (addition) Logfire `gen_ai.usage.raw`
    UsageDetail("input_cache_creation"),  # LF
    UsageDetail("cache_creation_input_tokens"),  # LF
)
REASONING_TOKENS: tuple[Source, ...] = (
    "gen_ai.usage.reasoning.output_tokens",  # OTel 1.41
    "gen_ai.usage.reasoning_tokens",  # TL
    "llm.usage.reasoning_tokens",  # TL†
    "gen_ai.usage.output_tokens.reasoning",  # X: Sentry
    "gen_ai.usage.details.reasoning_tokens",  # PAI / OpenAI
    "gen_ai.usage.details.thoughts_tokens",  # PAI / Gemini
    "llm.token_count.completion_details.reasoning",  # OI
    "ai.usage.reasoningTokens",  # VAI
    "ai.usage.outputTokenDetails.reasoningTokens",  # (addition) VAI v6+
    UsageDetail("output_reasoning_tokens"),  # LF
)
# Per-modality usage (GenAI conventions after 1.41): `gen_ai.usage.{modality}.{input,output}_tokens`
# and `gen_ai.usage.{modality}.cache_read.input_tokens`, as the price book's usage keys. Text is
# what remains of the totals, so its keys are read (understood) but not kept.
MODALITIES = ("text", "image", "audio", "video")
MODALITY_KEYS: tuple[tuple[str, str], ...] = tuple(
    pair
    for modality in MODALITIES
    for pair in (
        (f"gen_ai.usage.{modality}.input_tokens", f"input_{modality}_tokens"),
        (f"gen_ai.usage.{modality}.output_tokens", f"output_{modality}_tokens"),
        (f"gen_ai.usage.{modality}.cache_read.input_tokens", f"cache_{modality}_read_tokens"),
    )
)

COST: tuple[Source, ...] = (
    langfuse.cost_total,  # LF cost_details
    "gen_ai.usage.cost",  # X: Cloudflare / OpenRouter (read by LF)
    "llm.cost.total",  # OI
    "operation.cost",  # PAI + LFR (genai-prices)
    openinference.cost_prompt_plus_completion,  # OI breakdown
)


def _aggregated(sources: tuple[Source, ...]) -> tuple[Source, ...]:
    """The same list under PAI ≥2's `gen_ai.aggregated_usage.*` prefix (only `gen_ai.usage.*` keys exist there)."""
    prefix = "gen_ai.usage."
    return tuple(
        pydantic_ai.AGGREGATED_PREFIX + source.removeprefix(prefix)
        for source in sources
        if isinstance(source, str) and source.startswith(prefix)
    )


# Built once: _read_counts runs for every span.
_AGGREGATED_LISTS = tuple(
    map(
        _aggregated,
        (INPUT_TOKENS, OUTPUT_TOKENS, TOTAL_TOKENS, CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, REASONING_TOKENS),
    )
)


# --- Which input counts include the cache: decided by source. ---------------------------
# docs/conventions.md, "Cache inside the input" (one row there per row here).


class Family(Enum):
    """The attribute family that carried a count."""

    OTEL = "otel"  # gen_ai.usage.*, gen_ai.aggregated_usage.*, llm.usage.* (TL†)
    OPENINFERENCE = "openinference"  # llm.token_count.*
    VERCEL_AI = "vercel_ai"  # ai.usage.*
    LANGFUSE = "langfuse"  # langfuse.observation.usage_details


def family_of(source: Source) -> Family:
    if isinstance(source, UsageDetail):
        return Family.LANGFUSE
    if isinstance(source, str) and source.startswith("llm.token_count."):
        return Family.OPENINFERENCE
    if isinstance(source, str) and source.startswith("ai.usage."):
        return Family.VERCEL_AI
    return Family.OTEL


@dataclass(frozen=True, slots=True)
class UsageSource:
    """What the table can look at: the family of the input key, the scope, the provider, the span."""

    family: Family
    scope: str
    provider: str
    view: SpanView


@dataclass(frozen=True, slots=True)
class CacheBasis:
    name: str
    applies: Callable[[UsageSource], bool]
    # None: the source is known to vary, so the arithmetic hint decides.
    input_includes_cache: bool | None


def _vercel(source: UsageSource) -> bool:
    return source.scope == vercel_ai.SCOPE or source.family is Family.VERCEL_AI


# Providers whose native input count already holds the cached part (OpenAI-shaped).
_NATIVE_INCLUSIVE = frozenset({"openai", "azure.ai.openai", "x_ai", "deepseek"})

# First matching row wins. Evidence per row:
CACHE_BASIS: tuple[CacheBasis, ...] = (
    # LF stores `input` as the uncached bucket and subtracts cache (`extractGenericGenAiUsageDetails`).
    CacheBasis("langfuse usage_details", lambda s: s.family is Family.LANGFUSE, False),
    # OI spec: cache_read/cache_write are a breakdown OF the prompt count; OI-Anthropic sums
    # input + cache_creation + cache_read into llm.token_count.prompt (`_wrappers.py`, `_stream.py`).
    CacheBasis(
        "openinference llm.token_count",
        lambda s: s.family is Family.OPENINFERENCE,
        True,
    ),
    # AI SDK 6 made usage.inputTokens the cache-inclusive total and added inputTokenDetails.*;
    # sentry-javascript#21488 tells v6 from older SDKs by exactly these keys.
    CacheBasis("vercel ai v6+", lambda s: _vercel(s) and vercel_ai.is_v6(s.view), True),
    # AI SDK < 6 passed the provider's own count through: Anthropic's input_tokens excludes
    # cache (vercel/ai#4335: cache only in providerMetadata); Bedrock Converse inputTokens too.
    CacheBasis(
        "vercel ai <6, anthropic/bedrock",
        lambda s: _vercel(s) and vercel_ai.excludes_cache_natively(s.view),
        False,
    ),
    # OpenAI prompt_tokens includes prompt_tokens_details.cached_tokens; Gemini promptTokenCount
    # includes cachedContentTokenCount; xAI/DeepSeek are OpenAI-shaped (vercel/ai#9774).
    CacheBasis(
        "vercel ai <6, openai-shaped",
        lambda s: _vercel(s) and vercel_ai.includes_cache_natively(s.view),
        True,
    ),
    CacheBasis("vercel ai <6, other provider", _vercel, None),
    # PAI models/anthropic.py: "request_tokens as the count of all input tokens" =
    # input + cache_creation + cache_read; OpenAI/Gemini counts are inclusive natively.
    CacheBasis("pydantic-ai", lambda s: s.scope == pydantic_ai.SCOPE, True),
    # Logfire's usage refactor (logfire#1843-1847, which added gen_ai.usage.raw): "gen_ai.usage.input_tokens
    # must be the total" = input + cache_read + cache_creation. Earlier Logfire wrote Anthropic's raw count.
    CacheBasis(
        "logfire with gen_ai.usage.raw",
        lambda s: pydantic_ai.is_logfire(s.view) and pydantic_ai.has_raw_usage(s.view),
        True,
    ),
    CacheBasis(
        "logfire, openai-shaped",
        lambda s: pydantic_ai.is_logfire(s.view) and s.provider in _NATIVE_INCLUSIVE,
        True,
    ),
    CacheBasis("logfire, older", lambda s: pydantic_ai.is_logfire(s.view), None),
    # OpenLLMetry anthropic `_set_token_usage`: input_tokens = prompt + cache_read + cache_creation.
    CacheBasis(
        "openllmetry anthropic",
        lambda s: s.scope == "opentelemetry.instrumentation.anthropic",
        True,
    ),
    # OpenLLMetry / OTel-contrib OpenAI and openai-agents: OpenAI's prompt/input tokens include cached ones.
    CacheBasis(
        "openai instrumentations",
        lambda s: s.scope.startswith("opentelemetry.instrumentation.openai"),
        True,
    ),
    # OTel-contrib GenAI packages (opentelemetry-util-genai and instrumentation-genai-*) follow SC:
    # "SHOULD include all types of input tokens, including cached tokens".
    CacheBasis(
        "otel genai contrib",
        lambda s: s.scope.startswith(("opentelemetry.util.genai", "opentelemetry.instrumentation.genai")),
        True,
    ),
    # OI with OPENINFERENCE_ENABLE_GENAI_SEMCONV dual-emits gen_ai.* with its own (inclusive) counts.
    CacheBasis(
        "openinference gen_ai dual-emit",
        lambda s: s.scope.startswith("openinference.instrumentation"),
        True,
    ),
    # ADK writes Gemini's prompt_token_count, which includes cached_content_token_count.
    CacheBasis("google adk", lambda s: s.scope == "gcp.vertex.agent", True),
    # An SDK tracing itself reports its native usage; Anthropic's input_tokens excludes cache (pitfall 1).
    CacheBasis("anthropic sdk native", lambda s: s.scope == "anthropic", False),
    # Strands changed: before 1.34 input excluded cache (openinference strands processor test:
    # 4299 + 35574 + 17787 = total 58291), later it includes it. The total tells which.
    CacheBasis("strands", lambda s: s.scope.startswith("strands"), None),
)


def cache_basis(source: UsageSource) -> CacheBasis | None:
    return next((row for row in CACHE_BASIS if row.applies(source)), None)


def exclusive_by_arithmetic(input_tokens: int, cache: int, output_tokens: int | None, total: int | None) -> bool:
    """The last resort when the source is unknown.

    A total settles it when one is reported (input + output == total means inclusive;
    input + cache + output == total means exclusive). Otherwise only the impossible case is
    caught: cache larger than an inclusive input cannot be, so the input is exclusive.
    """
    if cache == 0:
        return False
    if total is not None and output_tokens is not None:
        if total == input_tokens + cache + output_tokens:
            return True
        if total == input_tokens + output_tokens:
            return False
    return cache > input_tokens


# --- Reading. -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    aggregated: bool = False
    warnings: tuple[str, ...] = ()  # WARNINGS codes: counts that contradict each other
    modalities: tuple[tuple[str, int], ...] = ()  # price-book keys of non-text modalities, e.g. input_audio_tokens


@dataclass(frozen=True, slots=True)
class _Counts:
    input: tuple[int, Source] | None
    output: tuple[int, Source] | None
    total: int | None
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None

    @property
    def present(self) -> bool:
        counts = (
            self.input,
            self.output,
            self.total,
            self.cache_read,
            self.cache_write,
            self.reasoning,
        )
        return any(count is not None for count in counts)


def _read_counts(view: SpanView, aggregated: bool) -> _Counts:
    lists = (
        INPUT_TOKENS,
        OUTPUT_TOKENS,
        TOTAL_TOKENS,
        CACHE_READ_TOKENS,
        CACHE_WRITE_TOKENS,
        REASONING_TOKENS,
    )
    input_keys, output_keys, total_keys, read_keys, write_keys, reasoning_keys = (
        _AGGREGATED_LISTS if aggregated else lists
    )
    return _Counts(
        input=first_with_source(view, input_keys, as_count),
        output=first_with_source(view, output_keys, as_count),
        total=first(view, total_keys, as_count),
        cache_read=first(view, read_keys, as_count),
        cache_write=first(view, write_keys, as_count),
        reasoning=first(view, reasoning_keys, as_count),
    )


def read_usage(view: SpanView, provider: str) -> Usage:
    """The span's token counts, inclusive as promised, and whether they repeat children's usage
    (docs/conventions.md, "Aggregated usage").

    A span's own `gen_ai.usage.*` is aggregate unless it is an LLM or EMBEDDING call: AGENT,
    CHAIN and root-like spans (PAI ≤1.x `agent run`, VAI 7 `invoke_agent`, VAI wrappers)
    carry their children's sum. PAI ≥2 marks it itself with `gen_ai.aggregated_usage.*`.
    """
    own = _read_counts(view, aggregated=False)
    pooled = _read_counts(view, aggregated=True)
    if own.present:
        counts, aggregated = own, view.kind not in (SpanKind.LLM, SpanKind.EMBEDDING)
    elif pooled.present:
        counts, aggregated = pooled, True
    else:
        return Usage()
    input_tokens, output_tokens = _inclusive_input(counts, view, provider), _inclusive_output(counts)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=counts.cache_read,
        cache_write_tokens=counts.cache_write,
        reasoning_tokens=counts.reasoning,
        aggregated=aggregated,
        warnings=_warnings(counts, view, provider, input_tokens, output_tokens),
        modalities=_modalities(view),
    )


def _modalities(view: SpanView) -> tuple[tuple[str, int], ...]:
    found: list[tuple[str, int]] = []
    for key, usage_key in MODALITY_KEYS:
        count = as_count(view.get(key))
        if count and not usage_key.startswith(("input_text", "output_text", "cache_text")):
            found.append((usage_key, count))
    return tuple(found)


# Token-accounting warnings, shown on the intake diagnostics page with an example span.
WARNINGS = {
    "cache_above_input": "cache tokens above an input count that should include them",
    "reasoning_above_output": "reasoning tokens above an output count that should include them",
    "total_mismatch": "input + output differ from the reported total",
}


def _warnings(
    counts: _Counts, view: SpanView, provider: str, input_tokens: int | None, output_tokens: int | None
) -> tuple[str, ...]:
    found: list[str] = []
    if counts.input is not None:
        raw_input, source = counts.input
        basis = cache_basis(UsageSource(family_of(source), view.scope, provider, view))
        cache = (counts.cache_read or 0) + (counts.cache_write or 0)
        if cache > raw_input and (basis is None or basis.input_includes_cache is not False):
            found.append("cache_above_input")
    output = counts.output
    if output is not None and family_of(output[1]) is not Family.LANGFUSE and (counts.reasoning or 0) > output[0]:
        found.append("reasoning_above_output")
    totals = (counts.total, input_tokens, output_tokens)
    if None not in totals and counts.total != (input_tokens or 0) + (output_tokens or 0):
        found.append("total_mismatch")
    return tuple(found)


def _inclusive_input(counts: _Counts, view: SpanView, provider: str) -> int | None:
    if counts.input is None:
        return None
    input_tokens, source = counts.input
    cache = (counts.cache_read or 0) + (counts.cache_write or 0)
    basis = cache_basis(UsageSource(family_of(source), view.scope, provider, view))
    includes_cache = basis.input_includes_cache if basis else None
    if includes_cache is None:
        output = counts.output[0] if counts.output else None
        includes_cache = not exclusive_by_arithmetic(input_tokens, cache, output, counts.total)
    return input_tokens if includes_cache else _bounded(input_tokens + cache)


def _inclusive_output(counts: _Counts) -> int | None:
    """Langfuse's `output` bucket excludes `output_reasoning_tokens`; other sources include reasoning.

    A reasoning count larger than the output is impossible when inclusive, so that is exclusive too.
    """
    if counts.output is None:
        return None
    output_tokens, source = counts.output
    reasoning = counts.reasoning or 0
    if family_of(source) is Family.LANGFUSE or reasoning > output_tokens:
        return _bounded(output_tokens + reasoning)
    return output_tokens


def _bounded(count: int) -> int | None:
    return count if count <= MAX_COUNT else None


def read_cost(view: SpanView) -> Decimal | None:
    """The cost the span reported (USD, Decimal), in the order of docs/conventions.md, "Reported cost"."""
    return first(view, COST, as_cost)
