"""Cost engine: price one LLM or embedding call from its token usage.

Pure, no Django imports. `services.ingest_spans` calls `price_call` for every LLM/embedding
span, so it must be cheap (10,000 spans/s) and exact: money is `Decimal` end to end.

Where a price comes from, in order:
1. a project override (negotiated rate, fine-tuned or self-hosted model), else
2. the genai-prices price book, at the span's own timestamp (prices change over time).
A cost the span itself reported (provider or SDK) wins over both, but the computed cost is kept
beside it so a wrong reported cost shows up as a discrepancy.

Token semantics match on both sides, so the mapping to genai-prices is one to one:
- ours (telemetry.SpanFields): `input_tokens` includes cache reads and writes; `output_tokens`
  includes reasoning.
- genai-prices 0.2.3: `input_tokens` "is the total number of input tokens. It includes uncached
  tokens, cache-read tokens, and cache-write tokens" (package README, "Cached input tokens");
  in `data_units.py` cache_read/cache_write/output_reasoning are units whose dimensions extend
  input/output, and `decompose.compute_leaf_values` prices `input - cache_read - cache_write`
  at the input rate and `output - output_reasoning` at the output rate. Its extractors agree:
  Anthropic sums `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` into
  `input_tokens`; Gemini sums `candidatesTokenCount + thoughtsTokenCount` into `output_tokens`.

genai-prices' own `calc_price` costs 110-150 µs a call (it re-validates the price table and
rebuilds the usage each time), too slow for ingest. We cache the model lookup per
(provider, model), misses included, and per price table a small plan that repeats genai-prices'
arithmetic: the same leaf decomposition, the same `price * count / per`, and tiered prices
through genai-prices' own `calc_unit_price`. About 17 µs a call. The price table itself is
picked per call (`ModelInfo.get_prices(at)`), because some prices depend on the time of day.
The tests compare the result with `genai_prices.calc_price` for every model of several providers.

Not modelled, because spans do not tell us: Anthropic 1-hour cache writes (priced at the
5-minute write rate), batch and service-tier discounts (genai-prices' `price_context`).
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import genai_prices
from genai_prices import data_snapshot
from genai_prices import types as gp
from genai_prices.data_units import unit_data
from genai_prices.decompose import is_descendant_or_self
from genai_prices.units import UnitDef, UnitRegistry

# DECIMAL(20,10) column.
COST_QUANTUM = Decimal("1e-10")
# A reported cost further than this from the computed one is recorded as a discrepancy.
DISCREPANCY_TOLERANCE = Decimal("0.01")
_MTOK = Decimal(1_000_000)

# Our provider strings (OTel `gen_ai.provider.name` values, plus the OpenInference
# `llm.provider` / `llm.system` values ingest.conventions.providers lets through) → genai-prices
# provider ids. A value that is itself a genai-prices id (together, fireworks, cerebras, ...) is
# used as is. Anything else gives no hint, and genai-prices infers the provider from the model.
# We do not use genai-prices' fuzzy `provider_match` on our strings: it maps `azure.ai.openai`
# to `openai` because the string contains "openai".
PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "aws": "aws",  # OI llm.provider
    "azure.ai.openai": "azure",  # genai-prices' azure falls back to openai, anthropic, ... prices
    "azure.ai.inference": "azure",
    "azure": "azure",  # OI llm.provider
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",  # google falls back to anthropic: Claude on Vertex
    "gcp.gen_ai": "google",
    "google": "google",  # OI llm.provider
    "vertexai": "google",  # OI llm.system
    "mistral_ai": "mistral",
    "mistralai": "mistral",  # OI llm.system
    "x_ai": "x-ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
    "together_ai": "together",  # LiteLLM
    "fireworks_ai": "fireworks",  # LiteLLM
}

# Usage keys we can report to genai-prices; every other unit of a price table counts zero.
_REPORTED_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_reasoning_tokens",
        "requests",  # genai-prices counts one request per call when a table prices requests
        # non-text modalities, when a span reports them (conventions.usage.MODALITY_KEYS)
        *(
            f"{direction}_{modality}_tokens"
            for direction in ("input", "output")
            for modality in ("audio", "image", "video")
        ),
        *(f"cache_{modality}_read_tokens" for modality in ("audio", "image", "video")),
    }
)
_UNITS = UnitRegistry(unit_data)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, in our semantics (see telemetry.SpanFields)."""

    input_tokens: int | None  # INCLUDES cache_read + cache_write
    output_tokens: int | None  # INCLUDES reasoning
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    # Non-text modalities inside those totals, by genai-prices usage key (input_audio_tokens, ...),
    # priced at their own rates where the price book has them.
    modalities: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A project's negotiated or custom-model price, in USD per million tokens."""

    model_pattern: str  # exact model name, or an fnmatch pattern such as "ft:gpt-4o*"
    provider: str  # "" = any provider
    effective_from: datetime  # aware UTC
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None  # None -> priced as input
    cache_write_per_mtok: Decimal | None  # None -> priced as input
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one call and where it came from."""

    cost: Decimal | None  # None when unpriced (never 0 for an unknown model)
    source: str  # "reported" | "computed" | "override" | "unpriced"
    # The price book / override cost, kept even when the reported cost wins.
    computed: Decimal | None
    # reported - computed, when they differ by more than 1% of computed.
    discrepancy: Decimal | None
    model_ref: str  # what matched: "openai:gpt-4o", "override #3"; "" if nothing did


UNPRICED = Price(None, "unpriced", None, None, "")


def price_call(
    *,
    provider: str,
    model: str,
    usage: Usage,
    at: datetime,
    reported_cost: Decimal | None = None,
    overrides: Sequence[PriceOverride] = (),
) -> Price:
    """Price one call: override, else price book at `at`; a reported cost wins but is checked."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    if reported_cost is not None and not reported_cost.is_finite():
        reported_cost = None
    tokens = _Tokens.of(usage)
    computed, source, model_ref = None, "unpriced", ""
    if tokens is not None:
        computed, source, model_ref = _compute(provider, model, tokens, at, overrides)

    if reported_cost is None:
        return Price(computed, source, computed, None, model_ref)
    reported = _quantize(reported_cost)
    discrepancy = None
    if computed is not None and abs(reported - computed) > computed * DISCREPANCY_TOLERANCE:
        discrepancy = reported - computed
    return Price(reported, "reported", computed, discrepancy, model_ref)


def _compute(
    provider: str,
    model: str,
    tokens: _Tokens,
    at: datetime,
    overrides: Sequence[PriceOverride],
) -> tuple[Decimal | None, str, str]:
    """(cost, source, model_ref) from the best override, else the price book, else unpriced."""
    if override := _pick_override(overrides, provider=provider, model=model, at=at):
        ref = f"#{override.id}" if override.id is not None else override.model_pattern
        return (
            _quantize(_override_cost(override, tokens)),
            "override",
            f"override {ref}",
        )
    entry = _lookup(_provider_id(provider), _model_key(model), _snapshot_stamp())
    if entry is None:
        return None, "unpriced", ""
    return _quantize(_book_cost(entry, tokens, at)), "computed", entry.ref


def price_book_version() -> str:
    """The price data in use, recorded with a repricing so costs can be traced to their prices."""
    version = f"genai-prices=={genai_prices.__version__}"
    snapshot = data_snapshot.get_snapshot()
    if snapshot.from_auto_update:
        return f"{version}+fetched:{snapshot.timestamp.isoformat()}"
    return version


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class _Tokens:
    """Usage made consistent: no negatives, and a total is never smaller than its parts."""

    input: int  # total, cache included
    output: int  # total, reasoning included
    cache_read: int
    cache_write: int
    reasoning: int
    modalities: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, usage: Usage) -> _Tokens | None:
        """None when the span reported no tokens at all: nothing to price."""
        cache_read = max(usage.cache_read_tokens or 0, 0)
        cache_write = max(usage.cache_write_tokens or 0, 0)
        reasoning = max(usage.reasoning_tokens or 0, 0)
        # A cache or reasoning count larger than its total is bad data; genai-prices would raise
        # ("cannot exceed"). Taking the parts as the floor keeps every bucket non-negative.
        input_total = max(usage.input_tokens or 0, cache_read + cache_write)
        output_total = max(usage.output_tokens or 0, reasoning)
        tokens = cls(
            input=input_total,
            output=output_total,
            cache_read=cache_read,
            cache_write=cache_write,
            reasoning=reasoning,
            modalities=_modalities_within(usage.modalities, input_total, output_total),
        )
        return tokens if tokens.input or tokens.output else None

    def as_genai_usage(self) -> dict[str, int]:
        """genai-prices usage keys; both sides count cache in input and reasoning in output."""
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_tokens": self.cache_read,
            "cache_write_tokens": self.cache_write,
            "output_reasoning_tokens": self.reasoning,
            **dict(self.modalities),
        }


def _modalities_within(
    modalities: Mapping[str, int], input_total: int, output_total: int
) -> tuple[tuple[str, int], ...]:
    """The modality counts, unless they add up to more than their total (bad data: then the whole
    call is priced as text, as without them)."""
    counts = {k: v for k, v in modalities.items() if v > 0}
    inputs = sum(v for k, v in counts.items() if k.startswith("input_"))
    outputs = sum(v for k, v in counts.items() if k.startswith("output_"))
    if inputs > input_total or outputs > output_total:
        return ()
    return tuple(sorted(counts.items()))


# --- overrides ---------------------------------------------------------------------------


def _pick_override(
    overrides: Sequence[PriceOverride], *, provider: str, model: str, at: datetime
) -> PriceOverride | None:
    """Most specific applicable override: exact name > pattern, provider-specific > any, then latest."""
    if not overrides:
        return None
    model_lower = model.lower()
    provider_lower = provider.lower()
    best: PriceOverride | None = None
    best_rank: tuple[bool, bool, datetime, int] | None = None
    for override in overrides:
        if override.effective_from > at:
            continue
        if override.provider and override.provider.lower() != provider_lower:
            continue
        pattern = override.model_pattern.lower()
        exact = not any(char in pattern for char in "*?[")
        if not (pattern == model_lower if exact else fnmatch.fnmatchcase(model_lower, pattern)):
            continue
        rank = (
            exact,
            bool(override.provider),
            override.effective_from,
            override.id or 0,
        )
        if best_rank is None or rank > best_rank:
            best, best_rank = override, rank
    return best


def _override_cost(override: PriceOverride, tokens: _Tokens) -> Decimal:
    input_price = override.input_per_mtok
    cache_read_price = override.cache_read_per_mtok if override.cache_read_per_mtok is not None else input_price
    cache_write_price = override.cache_write_per_mtok if override.cache_write_per_mtok is not None else input_price
    # Never negative: _Tokens.of makes the input total at least cache read + cache write.
    uncached = tokens.input - tokens.cache_read - tokens.cache_write
    return (
        uncached * input_price
        + tokens.cache_read * cache_read_price
        + tokens.cache_write * cache_write_price
        + tokens.output * override.output_per_mtok
    ) / _MTOK


# --- price book --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """One priced unit of a price table: its leaf count is its own count minus its descendants'."""

    usage_key: str
    price: Decimal | gp.TieredPrices
    per: int
    descendants: tuple[int, ...]  # indexes of earlier steps


@dataclass(frozen=True, slots=True)
class _Entry:
    """A resolved model: its genai-prices objects and a plan per price table (None = let genai-prices compute)."""

    ref: str
    provider: gp.Provider
    model: gp.ModelInfo
    plans: tuple[tuple[gp.ModelPrice, tuple[_Step, ...] | None], ...]


@functools.lru_cache(maxsize=256)
def _provider_id(provider: str) -> str | None:
    """genai-prices provider id for our provider string, None to let it infer from the model."""
    name = provider.strip().lower()
    if name in PROVIDER_IDS:
        return PROVIDER_IDS[name]
    known = {p.id for p in data_snapshot.get_snapshot().providers}
    return name if name in known else None


def _model_key(model: str) -> str:
    return model.strip().lower()


def _snapshot_stamp() -> datetime:
    """Part of the lookup key, so a price snapshot swapped in by genai_prices.UpdatePrices is seen."""
    return data_snapshot.get_snapshot().timestamp


@functools.lru_cache(maxsize=4096)
def _lookup(provider_id: str | None, model: str, stamp: datetime) -> _Entry | None:
    """Find the model in the price book; misses are cached too (a genai-prices miss costs ~0.6 ms).

    genai-prices matches dated names (gpt-4o-2024-08-06), `models/gemini-*`, Bedrock ids and
    regional prefixes itself. The one thing it does not strip is a router prefix such as
    `openai/gpt-4o` (LiteLLM, OpenRouter model strings sent to the vendor), so when the name
    as given does not match, we retry with the part after the last "/". As-is comes first
    because some providers' ids contain a slash (together: `meta-llama/Llama-3.3-70B-...`).

    A hint that maps to a genai-prices provider is trusted: if that provider does not list the
    model we do not guess another one (a self-hosted `deepseek-r1` behind an OpenAI-compatible
    server would otherwise be billed at DeepSeek's price). An override prices such models.
    """
    del stamp  # only part of the cache key
    snapshot = data_snapshot.get_snapshot()
    candidates = [model]
    if "/" in model:
        candidates.append(model.rsplit("/", 1)[1])
    for candidate in candidates:
        try:
            provider, info = snapshot.find_provider_model(candidate, None, provider_id, None)
        except LookupError:
            continue
        tables = [info.prices] if isinstance(info.prices, gp.ModelPrice) else [c.prices for c in info.prices]
        return _Entry(
            ref=f"{provider.id}:{info.id}",
            provider=provider,
            model=info,
            plans=tuple((table, _plan(table)) for table in tables),
        )
    return None


def _plan(table: gp.ModelPrice) -> tuple[_Step, ...] | None:
    """The steps of genai-prices' leaf decomposition for one price table, minus always-zero units.

    Mirrors `ModelPrice.calc_price`: priced units sorted most specific first; each unit's leaf is
    its count minus the leaves of its priced descendants. Units we never report (audio, images,
    web searches, ...) whose descendants we never report either always have a zero leaf, so they
    are dropped. Returns None for anything unexpected, and genai-prices then does the work.
    """
    priced = []
    for price_key, price in vars(table).items():
        if price_key.startswith("_") or price is None:
            continue
        try:
            priced.append((_UNITS.unit_for_price_key(price_key), price))
        except KeyError:
            return None
    priced.sort(key=lambda item: (-len(item[0].dimensions), item[0].usage_key))

    kept: list[UnitDef] = []  # the unit of each step, to find descendants among the kept ones
    steps: list[_Step] = []
    for unit, price in priced:
        descendants = tuple(i for i, other in enumerate(kept) if is_descendant_or_self(unit, other))
        if unit.usage_key not in _REPORTED_KEYS and not descendants:
            continue
        if unit.usage_key == "requests" and descendants:
            return None
        kept.append(unit)
        steps.append(_Step(unit.usage_key, price, unit.per, descendants))
    return tuple(steps)


def _book_cost(entry: _Entry, tokens: _Tokens, at: datetime) -> Decimal:
    """genai-prices' cost for this usage, with the price table in force at `at`."""
    table = entry.model.get_prices(at)
    steps = next((plan for candidate, plan in entry.plans if candidate is table), None)
    counts = tokens.as_genai_usage()
    if steps is None:
        return entry.model.calc_price(
            genai_prices.Usage(**counts), entry.provider, genai_request_timestamp=at
        ).total_price

    counts["requests"] = 1  # genai-prices bills one request per call where requests are priced
    leaves: list[int] = []
    total = Decimal(0)
    for step in steps:
        leaf = counts.get(step.usage_key, 0)
        for i in step.descendants:
            leaf -= leaves[i]
        leaves.append(leaf)
        if not leaf:
            continue
        if isinstance(step.price, Decimal):  # calc_unit_price's own arithmetic, minus two calls
            total += step.price * Decimal(leaf) / step.per
        else:  # tiered: genai-prices picks the tier from the total input tokens
            total += gp.calc_unit_price(step.price, leaf, tokens.input, step.per)
    return total
