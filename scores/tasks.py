"""Thin Celery wrapper around scores.evaluation_services (the beat runs it every minute)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from scores import evaluation_services


# acks_late is safe: claims are unique rows and judge calls are leased (compare-and-swap).
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def evaluate_runs() -> None:
    evaluation_services.evaluate_runs()
