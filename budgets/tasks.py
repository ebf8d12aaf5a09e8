"""Thin Celery wrappers around budgets' evaluation, delivery, digests, anomaly detection and monitors."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from budgets import digests, evaluation
from budgets.anomalies import services as anomaly_services
from budgets.delivery import outbox
from budgets.monitors import evaluation as monitors


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def evaluate_budgets() -> None:
    evaluation.evaluate_budgets()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_alerts() -> None:
    outbox.deliver_due_alerts()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def send_digests() -> None:
    digests.send_digests()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def detect_anomalies() -> None:
    anomaly_services.detect_anomalies()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def evaluate_monitors() -> None:
    monitors.evaluate_monitors()
