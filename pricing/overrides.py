"""Writes: save or delete a price override, then ask for the spans it may change to be repriced
(ingest listens to `signals.reprice_requested`; pricing does not know who reprices)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from pricing import signals
from pricing.models import PriceOverride


@transaction.atomic
def price_override_save(override: PriceOverride, *, previous_start: datetime | None = None) -> PriceOverride:
    """Validate and save an override, then reprice the project's spans it may change."""
    override.full_clean()
    override.save()
    since = min(filter(None, [override.effective_from, previous_start]))
    reprice(override.project_id, since)
    return override


@transaction.atomic
def price_override_delete(override: PriceOverride) -> None:
    project_id, since = override.project_id, override.effective_from
    override.delete()
    reprice(project_id, since)


def reprice(project_id: int, since: datetime, *, wait: bool = False) -> list[object]:
    """Ask for the project's spans from `since` on to be repriced: queued after commit, or now
    (`wait`) with what each receiver returned (ingest: a RepriceResult)."""
    responses = signals.reprice_requested.send(sender=PriceOverride, project_id=project_id, since=since, wait=wait)
    return [result for _, result in responses]
