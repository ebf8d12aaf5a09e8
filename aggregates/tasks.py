"""Thin Celery wrappers around the rollup pass."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from aggregates import rollups, signals


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def rollup_pending() -> None:
    rollups.rollup_pending(max_seconds=rollups.PASS_SECONDS)
    signals.rollups_updated.send(sender=None)  # budgets evaluate on the fresh rollups
