"""Reads: the cost of a span from its usage, the project's overrides and the price book."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing import book
from pricing.models import PriceOverride
from tenancy.models import Project

REPORTED = "reported"  # a cost the span reported, on a span that is not a call we price
COST_FIELDS = ["cost_usd", "cost_source", "computed_cost", "cost_discrepancy", "price_ref"]


@dataclass(frozen=True, slots=True)
class SpanCost:
    cost_usd: Decimal | None
    cost_source: str
    computed_cost: Decimal | None
    cost_discrepancy: Decimal | None
    price_ref: str


NO_COST = SpanCost(None, "", None, None, "")


def overrides_for(project: Project) -> list[book.PriceOverride]:
    return [
        book.PriceOverride(
            model_pattern=o.model_pattern,
            provider=o.provider,
            effective_from=o.effective_from,
            input_per_mtok=o.input_per_mtok,
            output_per_mtok=o.output_per_mtok,
            cache_read_per_mtok=o.cache_read_per_mtok,
            cache_write_per_mtok=o.cache_write_per_mtok,
            id=o.pk,
        )
        for o in PriceOverride.objects.filter(project=project)
    ]


def span_cost(
    *,
    priced: bool,
    provider: str,
    model: str,
    usage: book.Usage,
    at: datetime,
    reported_cost: Decimal | None,
    overrides: list[book.PriceOverride],
) -> SpanCost:
    """The cost of one span: calls (`priced`: LLM and embedding spans) are priced; other spans
    keep the cost they reported."""
    if not priced:
        if reported_cost is None:
            return NO_COST
        return SpanCost(reported_cost, REPORTED, None, None, "")
    price = book.price_call(
        provider=provider, model=model, usage=usage, at=at, reported_cost=reported_cost, overrides=overrides
    )
    return SpanCost(price.cost, price.source, price.computed, price.discrepancy, price.model_ref)
