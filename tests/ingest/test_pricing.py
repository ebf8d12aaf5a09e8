"""Cost engine: our costs equal genai-prices' for the same call, overrides and reported costs win.

Expected price-book costs are computed here with `genai_prices.calc_price` directly, in its own
usage semantics (input_tokens is the total including cache reads and writes; output_tokens
includes reasoning, with output_reasoning_tokens as its breakdown), so a mistranslation in
`pricing.book` shows up as a difference. Hand-computed figures use the rates in the bundled
genai-prices 0.2.3 data (constraints.txt pins it).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from genai_prices.data import providers as book_providers

from pricing import book as pricing
from pricing.book import Price, PriceOverride, Usage, price_call

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
TEN_PLACES = Decimal("1e-10")


def usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    cache_read: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
) -> Usage:
    return Usage(input_tokens, output_tokens, cache_read, cache_write, reasoning)


def genai_cost(book_provider: str, model: str, our_usage: Usage, at: datetime = NOW) -> Decimal:
    """What genai-prices charges, fed in its own semantics (inclusive totals plus breakdowns)."""
    book_usage = genai_prices.Usage(
        input_tokens=our_usage.input_tokens,
        cache_read_tokens=our_usage.cache_read_tokens,
        cache_write_tokens=our_usage.cache_write_tokens,
        output_tokens=our_usage.output_tokens,
        output_reasoning_tokens=our_usage.reasoning_tokens,
    )
    calculation = genai_prices.calc_price(book_usage, model, provider_id=book_provider, genai_request_timestamp=at)
    return calculation.total_price.quantize(TEN_PLACES)


def override(
    pattern: str,
    *,
    provider: str = "",
    since: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    input_price: str = "1",
    output_price: str = "2",
    cache_read: str | None = None,
    cache_write: str | None = None,
    id: int | None = None,
) -> PriceOverride:
    return PriceOverride(
        model_pattern=pattern,
        provider=provider,
        effective_from=since,
        input_per_mtok=Decimal(input_price),
        output_per_mtok=Decimal(output_price),
        cache_read_per_mtok=None if cache_read is None else Decimal(cache_read),
        cache_write_per_mtok=None if cache_write is None else Decimal(cache_write),
        id=id,
    )


# --- the price book: same answer as genai-prices -------------------------------------------

REAL_CALLS = [
    # (our provider, model as spans carry it, genai-prices provider id, usage, model_ref)
    pytest.param(
        "openai",
        "gpt-4o-2024-08-06",
        "openai",
        usage(12_000, 800, cache_read=9_000),
        "openai:gpt-4o",
        id="openai-gpt-4o-dated-cached",
    ),
    pytest.param(
        "openai",
        "gpt-4o-mini-2024-07-18",
        "openai",
        usage(5_123, 411, cache_read=1_024),
        "openai:gpt-4o-mini",
        id="openai-gpt-4o-mini-cached",
    ),
    pytest.param(
        "openai",
        "o3-mini-2025-01-31",
        "openai",
        usage(2_000, 3_500, cache_read=1_280, reasoning=3_000),
        "openai:o3-mini",
        id="openai-o3-mini-reasoning",
    ),
    pytest.param(
        "anthropic",
        "claude-sonnet-4-20250514",
        "anthropic",
        usage(40_000, 1_200, cache_read=30_000, cache_write=8_000, reasoning=400),
        "anthropic:claude-sonnet-4-0",
        id="anthropic-sonnet-4-cache-read-and-write",
    ),
    pytest.param(
        "anthropic",
        "claude-3-5-haiku-20241022",
        "anthropic",
        usage(9_000, 350, cache_read=4_000, cache_write=4_500),
        "anthropic:claude-3-5-haiku-latest",
        id="anthropic-haiku-cache-read-and-write",
    ),
    pytest.param(
        "aws.bedrock",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws",
        usage(20_000, 900, cache_read=15_000, cache_write=2_000),
        "aws:regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        id="bedrock-claude",
    ),
    pytest.param(
        "gcp.vertex_ai",
        "claude-3-5-sonnet-v2@20241022",
        "google",
        usage(3_000, 200, cache_read=1_000, cache_write=500),
        "google:claude-3-5-sonnet",
        id="vertex-claude",
    ),
    pytest.param(
        "gcp.gemini",
        "gemini-2.5-pro",
        "google",
        usage(50_000, 2_000, cache_read=20_000, reasoning=1_500),
        "google:gemini-2.5-pro",
        id="gemini-2.5-pro-thinking",
    ),
    pytest.param(
        "gcp.gemini",
        "gemini-2.5-pro",
        "google",
        usage(250_000, 2_000, cache_read=100_000),
        "google:gemini-2.5-pro",
        id="gemini-2.5-pro-long-prompt-tier",
    ),
    pytest.param(
        "gcp.gemini",
        "models/gemini-1.5-pro",
        "google",
        usage(10_000, 500),
        "google:gemini-1.5-pro",
        id="gemini-models-prefix",
    ),
    pytest.param(
        "azure.ai.openai",
        "gpt-4o",
        "azure",
        usage(7_000, 300, cache_read=2_048),
        "azure:gpt-4o",
        id="azure-openai",
    ),
    pytest.param(
        "groq",
        "llama-3.3-70b-versatile",
        "groq",
        usage(6_000, 700),
        "groq:llama-3.3-70b-versatile",
        id="groq-llama",
    ),
    pytest.param(
        "mistral_ai",
        "mistral-large-latest",
        "mistral",
        usage(4_000, 1_000),
        "mistral:mistral-large",
        id="mistral-large",
    ),
    pytest.param(
        "together",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together",
        usage(4_000, 1_000),
        "together:meta-llama/Llama-3.3-70B-Instruct-Turbo",
        id="together-llama-slash-in-id",
    ),
    pytest.param(
        "x_ai",
        "grok-3",
        "x-ai",
        usage(3_000, 600, cache_read=1_000),
        "x-ai:grok-3",
        id="xai-grok",
    ),
    pytest.param(
        "deepseek",
        "deepseek-chat",
        "deepseek",
        usage(3_000, 600, cache_read=1_000),
        "deepseek:deepseek-chat",
        id="deepseek-chat",
    ),
    pytest.param(
        "perplexity",
        "sonar-deep-research",
        "perplexity",
        usage(1_000, 5_000, reasoning=4_000),
        "perplexity:sonar-deep-research",
        id="perplexity-reasoning-own-rate",
    ),
    pytest.param(
        "perplexity",
        "sonar",
        "perplexity",
        usage(1_000, 100),
        "perplexity:sonar",
        id="perplexity-per-request-fee",
    ),
    pytest.param(
        "openai",
        "text-embedding-3-small",
        "openai",
        usage(8_191, None),
        "openai:text-embedding-3-small",
        id="openai-embedding",
    ),
]


@pytest.mark.parametrize(("provider", "model", "book_provider", "call_usage", "model_ref"), REAL_CALLS)
def test_price_book_cost_equals_genai_prices(
    provider: str, model: str, book_provider: str, call_usage: Usage, model_ref: str
) -> None:
    price = price_call(provider=provider, model=model, usage=call_usage, at=NOW)

    assert price == Price(
        cost=genai_cost(book_provider, model, call_usage),
        source="computed",
        computed=genai_cost(book_provider, model, call_usage),
        discrepancy=None,
        model_ref=model_ref,
    )
    assert price.cost is not None
    assert price.cost > 0
    assert price.cost.as_tuple().exponent == -10


@pytest.mark.parametrize(
    "book_provider",
    ["openai", "anthropic", "google", "aws", "groq", "mistral", "deepseek"],
)
def test_fast_path_matches_genai_prices_for_every_model_of_a_provider(
    book_provider: str,
) -> None:
    """The cached plan re-does genai-prices' arithmetic; prove it on every table, not a sample."""
    provider = next(p for p in book_providers if p.id == book_provider)
    call_usage = usage(260_000, 4_000, cache_read=150_000, cache_write=30_000, reasoning=1_000)
    compared = 0
    for model in provider.models:
        for at in (datetime(2025, 3, 1, 2, tzinfo=UTC), NOW):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tables with keys this version ignores
                    expected = genai_cost(book_provider, model.id, call_usage, at)
            except LookupError:  # the model's id is not one of its own match names
                continue
            price = price_call(provider=book_provider, model=model.id, usage=call_usage, at=at)
            assert price.cost == expected, (model.id, at)
            compared += 1
    assert compared >= len(provider.models)


def test_router_prefix_is_stripped_when_the_full_name_is_unknown() -> None:
    """genai-prices does not match `openai/gpt-4o` (LiteLLM, OpenRouter-style names)."""
    with pytest.raises(LookupError):
        genai_cost("openai", "openai/gpt-4o", usage(1_000, 100))

    price = price_call(provider="openai", model="openai/gpt-4o", usage=usage(1_000, 100), at=NOW)

    assert price.model_ref == "openai:gpt-4o"
    assert price.cost == genai_cost("openai", "gpt-4o", usage(1_000, 100))


def test_cached_tokens_are_priced_at_the_cache_rate_not_as_fresh_input() -> None:
    """gpt-4o: $2.50 input, $1.25 cached input. 8,000 of 10,000 prompt tokens were cached."""
    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(10_000, 0, cache_read=8_000),
        at=NOW,
    )

    assert price.cost == Decimal("0.0150000000")  # 2,000 x 2.50 + 8,000 x 1.25 per million
    # Reading the cache count as extra tokens (2.33x) or as fresh input (1.67x) overcharges.
    assert price.cost < Decimal("0.025")
    assert price.cost < (10_000 * Decimal("2.5") + 8_000 * Decimal("1.25")) / 1_000_000


def test_cache_reads_and_writes_each_get_their_own_rate() -> None:
    """Sonnet 4: $3 input, $0.30 cache read, $3.75 cache write (5 minutes), $15 output."""
    price = price_call(
        provider="anthropic",
        model="claude-sonnet-4-20250514",
        usage=usage(100_000, 500, cache_read=90_000, cache_write=6_000),
        at=NOW,
    )

    # 4,000 fresh x 3 + 90,000 x 0.30 + 6,000 x 3.75 + 500 x 15, per million
    assert price.cost == Decimal("0.0690000000")
    assert price.cost < Decimal("0.3075")  # the whole prompt as fresh input, plus output


def test_reasoning_tokens_are_priced_once_inside_output() -> None:
    """o3-mini: $4.40 output; 1,000 output tokens of which 800 reasoning cost 1,000 x 4.40."""
    price = price_call(
        provider="openai",
        model="o3-mini",
        usage=usage(0, 1_000, reasoning=800),
        at=NOW,
    )

    assert price.cost == Decimal("0.0044000000")


def test_reasoning_with_its_own_rate_is_split_out_of_output() -> None:
    """sonar-deep-research: $8 output, $3 reasoning; 1,000 output of which 600 reasoning."""
    price = price_call(
        provider="perplexity",
        model="sonar-deep-research",
        usage=usage(0, 1_000, reasoning=600),
        at=NOW,
    )

    assert price.cost == Decimal("0.0050000000")  # 400 x 8 + 600 x 3, per million


def test_historical_price_applies_at_the_span_timestamp() -> None:
    """OpenAI cut o3 from $10/$40 to $2/$8 on 2025-06-10; genai-prices dates the change."""
    call_usage = usage(1_000_000, 1_000_000)

    before = price_call(
        provider="openai",
        model="o3",
        usage=call_usage,
        at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC),
    )
    after = price_call(
        provider="openai",
        model="o3",
        usage=call_usage,
        at=datetime(2025, 6, 10, 0, 1, tzinfo=UTC),
    )

    assert before.cost == Decimal("50.0000000000")
    assert after.cost == Decimal("10.0000000000")


def test_time_of_day_price_uses_the_time_not_just_the_date() -> None:
    """deepseek-chat is half price off-peak (16:30-00:30 UTC): the lookup cache must not key on dates."""
    call_usage = usage(1_000_000, 0)
    day = price_call(
        provider="deepseek",
        model="deepseek-chat",
        usage=call_usage,
        at=datetime(2025, 3, 1, 3, tzinfo=UTC),
    )
    night = price_call(
        provider="deepseek",
        model="deepseek-chat",
        usage=call_usage,
        at=datetime(2025, 3, 1, 20, tzinfo=UTC),
    )

    assert day.cost == Decimal("0.2700000000")
    assert night.cost == Decimal("0.1350000000")


# --- provider hints ----------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "book_id"), sorted(pricing.PROVIDER_IDS.items()))
def test_provider_table_points_at_real_genai_prices_providers(ours: str, book_id: str) -> None:
    assert book_id in {p.id for p in book_providers}, ours


def test_azure_openai_is_priced_as_azure_not_by_the_openai_substring() -> None:
    price = price_call(provider="azure.ai.openai", model="gpt-4o", usage=usage(1_000, 10), at=NOW)

    assert price.model_ref == "azure:gpt-4o"


def test_provider_without_a_mapping_lets_genai_prices_infer_from_the_model() -> None:
    price = price_call(provider="some.new.gateway", model="gpt-4o", usage=usage(1_000, 10), at=NOW)

    assert price.model_ref == "openai:gpt-4o"
    assert price.cost == genai_cost("openai", "gpt-4o", usage(1_000, 10))


def test_model_missing_from_the_hinted_provider_is_unpriced_not_guessed() -> None:
    """A deepseek model served by a self-hosted OpenAI-compatible server must not get DeepSeek's price."""
    price = price_call(
        provider="openai",
        model="deepseek-r1-distill-llama-70b",
        usage=usage(1_000, 10),
        at=NOW,
    )

    assert price == pricing.UNPRICED


# --- unpriced ------------------------------------------------------------------------------


def test_unknown_model_is_unpriced_with_no_cost_not_zero() -> None:
    price = price_call(provider="openai", model="my-llama-70b", usage=usage(1_000, 200), at=NOW)

    assert price == Price(None, "unpriced", None, None, "")


def test_call_without_tokens_is_unpriced() -> None:
    for empty in (usage(), usage(0, 0)):
        price = price_call(provider="openai", model="gpt-4o", usage=empty, at=NOW)

        assert price == Price(None, "unpriced", None, None, "")


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        price_call(
            provider="openai",
            model="gpt-4o",
            usage=usage(1, 1),
            at=datetime(2025, 1, 1),  # noqa: DTZ001 - the point of the test
        )


def test_cache_count_larger_than_input_prices_the_cache_not_a_negative_input() -> None:
    """Bad data (cache > input) would make genai-prices raise; the cache count is the floor."""
    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(100, 0, cache_read=1_000),
        at=NOW,
    )

    assert price.cost == Decimal("0.0012500000")  # 1,000 cached x 1.25 per million


# --- reported cost ---------------------------------------------------------------------------


def test_reported_cost_wins_and_a_gap_over_one_percent_is_recorded() -> None:
    call_usage = usage(10_000, 1_000)  # gpt-4o: 0.025 + 0.01 = 0.035
    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=call_usage,
        at=NOW,
        reported_cost=Decimal("0.04"),
    )

    assert price == Price(
        cost=Decimal("0.0400000000"),
        source="reported",
        computed=Decimal("0.0350000000"),
        discrepancy=Decimal("0.0050000000"),
        model_ref="openai:gpt-4o",
    )


def test_reported_cost_within_one_percent_records_no_discrepancy() -> None:
    for reported in ("0.03535", "0.03465", "0.035"):
        price = price_call(
            provider="openai",
            model="gpt-4o",
            usage=usage(10_000, 1_000),
            at=NOW,
            reported_cost=Decimal(reported),
        )

        assert price.source == "reported"
        assert price.cost == Decimal(reported).quantize(TEN_PLACES)
        assert price.computed == Decimal("0.035")
        assert price.discrepancy is None


def test_reported_cost_for_an_unknown_model_is_kept_without_a_computed_cost() -> None:
    price = price_call(
        provider="openai",
        model="my-llama-70b",
        usage=usage(1_000, 200),
        at=NOW,
        reported_cost=Decimal("0.0012"),
    )

    assert price == Price(Decimal("0.0012000000"), "reported", None, None, "")


def test_reported_cost_is_checked_against_an_override() -> None:
    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(1_000_000, 0),
        at=NOW,
        reported_cost=Decimal("2.5"),
        overrides=[override("gpt-4o", input_price="2", id=4)],
    )

    assert price.source == "reported"
    assert price.computed == Decimal("2")
    assert price.discrepancy == Decimal("0.5")
    assert price.model_ref == "override #4"


# --- overrides -------------------------------------------------------------------------------


def test_override_beats_price_book_from_its_effective_date() -> None:
    negotiated = override(
        "gpt-4o",
        since=datetime(2026, 1, 1, tzinfo=UTC),
        input_price="2",
        output_price="8",
        id=3,
    )
    call_usage = usage(1_000_000, 1_000_000)

    on_the_day = price_call(
        provider="openai",
        model="gpt-4o",
        usage=call_usage,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        overrides=[negotiated],
    )
    the_day_before = price_call(
        provider="openai",
        model="gpt-4o",
        usage=call_usage,
        at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        overrides=[negotiated],
    )

    assert on_the_day == Price(
        Decimal("10.0000000000"),
        "override",
        Decimal("10.0000000000"),
        None,
        "override #3",
    )
    assert the_day_before.source == "computed"
    assert the_day_before.cost == Decimal("12.5000000000")  # $2.50 + $10 list price
    assert the_day_before.model_ref == "openai:gpt-4o"


def test_override_prices_each_token_bucket() -> None:
    custom = override(
        "my-llama-*",
        input_price="1",
        output_price="4",
        cache_read="0.1",
        cache_write="1.5",
    )

    price = price_call(
        provider="",
        model="my-llama-70b",
        usage=usage(10_000, 2_000, cache_read=6_000, cache_write=1_000, reasoning=500),
        at=NOW,
        overrides=[custom],
    )

    # 3,000 x 1 + 6,000 x 0.1 + 1,000 x 1.5 + 2,000 x 4 (reasoning inside output), per million
    assert price.cost == Decimal("0.0131000000")
    assert price.model_ref == "override my-llama-*"


def test_override_without_cache_prices_charges_cache_as_input() -> None:
    price = price_call(
        provider="openai",
        model="ft:gpt-4o:acme::abc",
        usage=usage(10_000, 0, cache_read=6_000, cache_write=1_000),
        at=NOW,
        overrides=[override("ft:gpt-4o*", input_price="3")],
    )

    assert price.cost == Decimal("0.0300000000")


def test_exact_override_beats_a_newer_pattern() -> None:
    exact = override("gpt-4o", since=datetime(2025, 1, 1, tzinfo=UTC), input_price="1", id=1)
    pattern = override("gpt-4o*", since=datetime(2026, 1, 1, tzinfo=UTC), input_price="9", id=2)

    price = price_call(
        provider="openai",
        model="GPT-4o",
        usage=usage(1_000_000, 0),
        at=NOW,
        overrides=[pattern, exact],
    )

    assert price.model_ref == "override #1"
    assert price.cost == Decimal("1.0000000000")


def test_provider_specific_override_beats_any_provider() -> None:
    anywhere = override("gpt-4o", since=datetime(2026, 1, 1, tzinfo=UTC), input_price="1", id=1)
    on_azure = override(
        "gpt-4o",
        provider="azure.ai.openai",
        since=datetime(2025, 1, 1, tzinfo=UTC),
        input_price="2",
        id=2,
    )

    azure = price_call(
        provider="azure.ai.openai",
        model="gpt-4o",
        usage=usage(1_000_000, 0),
        at=NOW,
        overrides=[anywhere, on_azure],
    )
    openai = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(1_000_000, 0),
        at=NOW,
        overrides=[anywhere, on_azure],
    )

    assert azure.model_ref == "override #2"
    assert openai.model_ref == "override #1"


def test_override_for_another_provider_does_not_apply() -> None:
    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(1_000, 0),
        at=NOW,
        overrides=[override("gpt-4o", provider="azure.ai.openai", id=1)],
    )

    assert price.source == "computed"


def test_latest_effective_override_wins_among_equals() -> None:
    old = override("gpt-4o", since=datetime(2025, 1, 1, tzinfo=UTC), input_price="1", id=1)
    new = override("gpt-4o", since=datetime(2026, 6, 1, tzinfo=UTC), input_price="2", id=2)
    future = override("gpt-4o", since=datetime(2027, 1, 1, tzinfo=UTC), input_price="3", id=3)

    price = price_call(
        provider="openai",
        model="gpt-4o",
        usage=usage(1_000_000, 0),
        at=NOW,
        overrides=[new, future, old],
    )

    assert price.model_ref == "override #2"


def test_cost_is_rounded_half_even_to_ten_places() -> None:
    """One token at $0.00015/M is 1.5e-10 -> 2e-10; at $0.00025/M 2.5e-10 -> 2e-10."""
    costs = [
        price_call(
            provider="",
            model="tiny",
            usage=usage(1, 0),
            at=NOW,
            overrides=[override("tiny", input_price=rate)],
        ).cost
        for rate in ("0.00015", "0.00025")
    ]

    assert costs == [Decimal("2E-10"), Decimal("2E-10")]
    assert all(cost is not None and cost.as_tuple().exponent == -10 for cost in costs)


def test_price_book_version_names_the_installed_genai_prices() -> None:
    assert pricing.price_book_version() == f"genai-prices=={genai_prices.__version__}"


def test_audio_input_is_priced_at_the_audio_rate_where_the_price_book_has_one():
    """gemini-2.5-flash bills audio input above text input; the same totals without the modality
    split are priced as text."""
    at = datetime.now(UTC)
    text_only = pricing.Usage(1000, 100, None, None, None)
    with_audio = pricing.Usage(1000, 100, None, None, None, modalities={"input_audio_tokens": 500})
    text = pricing.price_call(provider="google", model="gemini-2.5-flash", usage=text_only, at=at).cost
    audio = pricing.price_call(provider="google", model="gemini-2.5-flash", usage=with_audio, at=at).cost
    assert text is not None and audio is not None and audio > text
    impossible = pricing.Usage(1000, 100, None, None, None, modalities={"input_audio_tokens": 5000})
    assert pricing.price_call(provider="google", model="gemini-2.5-flash", usage=impossible, at=at).cost == text
