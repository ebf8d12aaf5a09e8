"""Writes: reprice stored spans (after an override change or a price-book upgrade) and bring
run totals and rollups in line. The arithmetic is the pricing app's; this walks ingest's tables."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ingest import run_summary, services, signals
from ingest.models import Span
from pricing import book, lookup
from pricing.lookup import SpanCost
from tenancy.models import Project

log = logging.getLogger(__name__)


def _stored_span_cost(span: Span, overrides: list[book.PriceOverride]) -> SpanCost:
    usage = book.Usage(
        span.input_tokens,
        span.output_tokens,
        span.cache_read_tokens,
        span.cache_write_tokens,
        span.reasoning_tokens,
        modalities=span.modality_tokens if isinstance(span.modality_tokens, dict) else {},
    )
    return lookup.span_cost(
        priced=span.kind in run_summary.USAGE_KINDS,
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
    spans = Span.objects.filter(kind__in=run_summary.USAGE_KINDS).order_by("pk")
    if project is not None:
        spans = spans.filter(project=project)
    if since is not None:
        spans = spans.filter(start_time__gte=since)
    if model:
        spans = spans.filter(Q(request_model=model) | Q(response_model=model))
    overrides: dict[int, list[book.PriceOverride]] = {}
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
                overrides[span.project_id] = lookup.overrides_for(span.project)
            cost = _stored_span_cost(span, overrides[span.project_id])
            if _cost_of(span) != cost:
                _apply(span, cost)
                changed.append(span)
                touched[span.project_id].add(span.trace_id)
        if changed:
            Span.objects.bulk_update(changed, lookup.COST_FIELDS, batch_size=500)
            changed_total += len(changed)
    runs_recomputed = _recompute_touched_runs(touched)
    log.info("repriced %d spans (%s)", changed_total, book.price_book_version())
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
                signals.traces_changed.send(sender=Project, project=project, trace_ids=chunk)
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
