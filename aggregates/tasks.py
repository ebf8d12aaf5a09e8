"""Thin Celery wrappers around the rollup passes."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from aggregates import deltas, rollups, signals

DELTA_PASS_SECONDS = 50  # a woken pass drains the marks for at most this long


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def rollup_pending() -> None:
    rollups.rollup_pending(max_seconds=rollups.PASS_SECONDS)
    signals.rollups_updated.send(sender=None)  # budgets evaluate on the fresh rollups


@shared_task(ignore_result=True, expires=30)
def apply_deltas() -> None:
    deltas.apply_pending(max_seconds=DELTA_PASS_SECONDS)


@shared_task(acks_late=True)
def prune_minutes() -> None:
    deltas.prune_minutes()
