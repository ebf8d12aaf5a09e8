"""Budgets, Slack destinations and the alert outbox (see the budgets issue).

An Alert row is the decision "this threshold of this budget was crossed in this period"; the
unique key (budget, period_start, threshold) makes it fire once per period however often or
concurrently evaluation runs. Delivery reads the row back (outbox) and claims it first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models

from ingest.models import Project

DEFAULT_THRESHOLDS = (80, 100)


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


def validate_thresholds(value: Any) -> None:
    """A non-empty list of positive percents (numbers), each once."""
    if not isinstance(value, list) or not value:
        raise ValidationError("enter a list of percents, e.g. [80, 100]")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or item <= 0:
            raise ValidationError(f"{item!r} is not a positive percent")
    if len(set(value)) != len(value):
        raise ValidationError("each threshold may appear only once")


class SlackDestination(models.Model):
    """A Slack incoming webhook. The URL is a secret: it is shown back only masked."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="slack_destinations")
    name = models.CharField(max_length=100)
    webhook_url = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    disabled_reason = models.CharField(
        max_length=300, blank=True, help_text="set when Slack refused the webhook for good; clear it to re-enable"
    )
    daily_digest = models.BooleanField(
        default=False, help_text="post yesterday's cost by agent every morning (the project's time zone)"
    )
    digest_sent_for = models.DateField(null=True, blank=True, editable=False)  # the day last digested (claim)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason

    @property
    def masked_url(self) -> str:
        parts = urlsplit(self.webhook_url)
        return (
            f"{parts.scheme}://{parts.netloc}/…{parts.path[-4:]}" if parts.path else f"{parts.scheme}://{parts.netloc}"
        )


class Budget(models.Model):
    class Scope(models.TextChoices):
        PROJECT = "project", "Whole project"
        AGENT = "agent", "Agent"
        MODEL = "model", "Model"
        USER = "user", "User"
        API_KEY = "api_key", "API key (prefix)"

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week (Monday to Sunday)"
        MONTH = "month", "Month"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="budgets")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.PROJECT)
    scope_value = models.CharField(
        max_length=200, blank=True, help_text="the agent, model, user or API key prefix; empty for the whole project"
    )
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.MONTH)
    amount_usd = models.DecimalField(
        "amount (USD)", max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    thresholds = models.JSONField(
        default=default_thresholds, validators=[validate_thresholds], help_text="percents of the amount, e.g. [80, 100]"
    )
    destinations = models.ManyToManyField(SlackDestination, blank=True, related_name="budgets")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.scope == self.Scope.PROJECT and self.scope_value:
            raise ValidationError({"scope_value": "leave empty for a whole-project budget"})
        if self.scope != self.Scope.PROJECT and not self.scope_value:
            raise ValidationError(
                {"scope_value": f"name the {self.get_scope_display().lower()} this budget applies to"}
            )

    @property
    def scope_label(self) -> str:
        return "whole project" if self.scope == self.Scope.PROJECT else f"{self.scope} {self.scope_value}"


class Alert(models.Model):
    """Outbox row: a crossed threshold, delivered by budgets.services.send_alert."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateTimeField()
    threshold = models.DecimalField(max_digits=7, decimal_places=2)  # percent
    spend = models.DecimalField(max_digits=20, decimal_places=10)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    projected = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)  # also the lease of a claimed send
    last_error = models.CharField(max_length=500, blank=True)
    delivered_to = models.ManyToManyField(SlackDestination, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "period_start", "threshold"], name="one_alert_per_threshold")
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.threshold}% from {self.period_start:%Y-%m-%d}"
