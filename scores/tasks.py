"""Thin Celery wrapper around scores.evaluators.services (the beat runs it every minute).

The task keeps its name, `scores.tasks.evaluate_runs`, which the beat schedule names."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from scores.evaluators import services as evaluator_services


# acks_late is safe: claims are unique rows and judge calls are leased (compare-and-swap).
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def evaluate_runs() -> None:
    evaluator_services.evaluate_runs()
