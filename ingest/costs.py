"""Cost write path: price spans at ingest, manage price overrides, reprice stored spans.

The arithmetic lives in the pure `pricing` module; this module feeds it stored rows and the
project's overrides and writes the results back, in short batches.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from ingest import pricing, rollups, runs, services, tasks
from ingest.models import PriceOverride, Project, Span

log = logging.getLogger(__name__)

COST_FIELDS = ["cost_usd", "cost_source", "computed_cost", "cost_discrepancy", "price_ref"]


@dataclass(frozen=True, slots=True)
class SpanCost:
    cost_usd: Decimal | None
    cost_source: str
    computed_cost: Decimal | None
    cost_discrepancy: Decimal | None
    price_ref: str


NO_COST = SpanCost(None, "", None, None, "")


def overrides_for(project: Project) -> list[pricing.PriceOverride]:
    return [
        pricing.PriceOverride(
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
    kind: str,
    provider: str,
    model: str,
    usage: pricing.Usage,
    at: datetime,
    reported_cost: Decimal | None,
    overrides: list[pricing.PriceOverride],
) -> SpanCost:
    """The cost of one span: LLM and embedding calls are priced; others keep a reported cost."""
    if kind not in runs.USAGE_KINDS:
        if reported_cost is None:
            return NO_COST
        return SpanCost(reported_cost, Span.CostSource.REPORTED, None, None, "")
    price = pricing.price_call(
        provider=provider, model=model, usage=usage, at=at, reported_cost=reported_cost, overrides=overrides
    )
    return SpanCost(price.cost, price.source, price.computed, price.discrepancy, price.model_ref)


def _stored_span_cost(span: Span, overrides: list[pricing.PriceOverride]) -> SpanCost:
    usage = pricing.Usage(
        span.input_tokens,
        span.output_tokens,
        span.cache_read_tokens,
        span.cache_write_tokens,
        span.reasoning_tokens,
        modalities=span.modality_tokens if isinstance(span.modality_tokens, dict) else {},
    )
    return span_cost(
        kind=span.kind,
        provider=span.provider,
        model=span.response_model or span.request_model,
        usage=usage,
        at=span.start_time,
        reported_cost=span.reported_cost,
        overrides=overrides,
    )


@dataclass(frozen=True, slots=True)
class RepriceResult:
    spans_changed: int
    runs_recomputed: int


def reprice_spans(
    *, project: Project | None = None, since: datetime | None = None, model: str = "", batch_size: int = 2000
) -> RepriceResult:
    """Recompute the cost of stored spans (after an override change or a price-book upgrade)
    and bring run totals and rollups in line.

    Idempotent: a second run changes nothing. Works in short transactions of `batch_size`
    spans, walking primary keys, so no table lock is held for long.
    """
    spans = Span.objects.filter(kind__in=runs.USAGE_KINDS).order_by("pk")
    if project is not None:
        spans = spans.filter(project=project)
    if since is not None:
        spans = spans.filter(start_time__gte=since)
    if model:
        spans = spans.filter(Q(request_model=model) | Q(response_model=model))
    overrides: dict[int, list[pricing.PriceOverride]] = {}
    touched: dict[int, set[str]] = defaultdict(set)
    changed_total, last_pk = 0, 0
    while True:
        batch = list(spans.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        changed = []
        for span in batch:
            if span.project_id not in overrides:
                overrides[span.project_id] = overrides_for(span.project)
            cost = _stored_span_cost(span, overrides[span.project_id])
            if _cost_of(span) != cost:
                _apply(span, cost)
                changed.append(span)
                touched[span.project_id].add(span.trace_id)
        if changed:
            Span.objects.bulk_update(changed, COST_FIELDS, batch_size=500)
            changed_total += len(changed)
    runs_recomputed = _recompute_touched_runs(touched)
    log.info("repriced %d spans (%s)", changed_total, pricing.price_book_version())
    return RepriceResult(changed_total, runs_recomputed)


def _recompute_touched_runs(touched: dict[int, set[str]]) -> int:
    count = 0
    for project_id, trace_ids in touched.items():
        project = Project.objects.get(pk=project_id)
        ordered = sorted(trace_ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            with transaction.atomic():
                services.recompute_runs(project, chunk)
                rollups.mark_traces_dirty(project, chunk)
            count += len(chunk)
    return count


def _cost_of(span: Span) -> SpanCost:
    return SpanCost(span.cost_usd, span.cost_source, span.computed_cost, span.cost_discrepancy, span.price_ref)


def _apply(span: Span, cost: SpanCost) -> None:
    span.cost_usd = cost.cost_usd
    span.cost_source = cost.cost_source
    span.computed_cost = cost.computed_cost
    span.cost_discrepancy = cost.cost_discrepancy
    span.price_ref = cost.price_ref


@transaction.atomic
def price_override_save(override: PriceOverride, *, previous_start: datetime | None = None) -> PriceOverride:
    """Validate and save an override, then reprice the project's spans it may change."""
    override.full_clean()
    override.save()
    since = min(filter(None, [override.effective_from, previous_start]))
    tasks.reprice_project.delay_on_commit(override.project_id, since.isoformat())
    return override


@transaction.atomic
def price_override_delete(override: PriceOverride) -> None:
    project_id, since = override.project_id, override.effective_from
    override.delete()
    tasks.reprice_project.delay_on_commit(project_id, since.isoformat())
