"""Monitors: a threshold on one metric over a sliding window, judged every minute for the whole
project, one named value or each value of a scope, and the incidents they open.

A MonitorIncident is one excursion of one scope value: at most one is open per (monitor, value)
(a partial unique constraint), which is what lets two workers evaluate at once without opening
two. It remembers the highest level announced, so each level (warning, critical) and the
resolution make exactly one Alert (unique on incident and kind, budgets.models.Alert)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from budgets.monitors import catalog
from tenancy.models import Project

MAX_WINDOW_MINUTES = 1440


class Monitor(models.Model):
    METRIC_CHOICES = [(name, spec.label) for name, spec in catalog.METRICS.items()]
    SCOPE_CHOICES = list(catalog.SCOPES.items())

    class Comparison(models.TextChoices):
        ABOVE = "above", "Above"
        BELOW = "below", "Below"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=20, choices=METRIC_CHOICES)
    score_name = models.CharField(max_length=200, blank=True, help_text="score metrics only: the score watched")
    scope = models.CharField(max_length=10, choices=SCOPE_CHOICES, default=catalog.PROJECT)
    scope_value = models.CharField(
        max_length=200, blank=True, help_text="one agent, model, provider, tool, user or key prefix; empty: each"
    )
    window_minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_MINUTES)]
    )
    comparison = models.CharField(max_length=5, choices=Comparison.choices, default=Comparison.ABOVE)
    warning = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    critical = models.DecimalField(max_digits=20, decimal_places=6)
    min_volume = models.PositiveIntegerField(
        default=1, help_text="windows with fewer runs (calls, scores) are not judged"
    )
    no_data = models.BooleanField(
        default=False,
        help_text="alert (critical) when a value that reported in the last 7 days has nothing in the window",
    )
    recovery_evaluations = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="consecutive evaluations back inside the thresholds before an incident resolves",
    )
    muted_until = models.DateTimeField(null=True, blank=True, help_text="no messages until then (state is still kept)")
    destinations = models.ManyToManyField(
        "budgets.Destination",
        blank=True,
        related_name="monitors",
        help_text="empty: every destination of the project",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written by each evaluation (a queryset update, so it never overwrites a change of settings).
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_values = models.JSONField(default=dict, blank=True, editable=False)  # scope value -> value (string)

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self) -> catalog.MetricSpec:
        return catalog.METRICS[self.metric]

    @property
    def metric_label(self) -> str:
        """ "p95 run latency"; a score metric names its score: "Score pass rate of grounded"."""
        label = self.spec.label
        return f"{label} of {self.score_name}" if self.score_name else label

    @property
    def is_group_by(self) -> bool:
        return self.scope != catalog.PROJECT and not self.scope_value

    def scope_label(self, value: str | None = None) -> str:
        """ "whole project", "agent support-bot", or for a group-by monitor "every agent"."""
        if self.scope == catalog.PROJECT:
            return "whole project"
        value = self.scope_value or value
        return f"{self.scope} {value}" if value else f"every {self.scope}"

    def clean(self) -> None:
        if self.metric not in catalog.METRICS:
            return  # the field's own choices say so
        if reason := catalog.unsupported_scope(self.metric, self.scope):
            raise ValidationError({"scope": reason})
        if self.scope == catalog.PROJECT and self.scope_value:
            raise ValidationError({"scope_value": "leave empty for a whole-project monitor"})
        is_score = self.metric in catalog.SCORE_METRICS
        if is_score and not self.score_name:
            raise ValidationError({"score_name": "name the score this monitor watches"})
        if not is_score and self.score_name:
            raise ValidationError({"score_name": "only score metrics take a score name"})
        if self.warning is not None and self.critical is not None:
            above = self.comparison == self.Comparison.ABOVE
            if (self.warning >= self.critical) if above else (self.warning <= self.critical):
                side = "below" if above else "above"
                raise ValidationError({"warning": f"a warning must come first: {side} the critical threshold"})


class MonitorIncident(models.Model):
    class State(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"
        RESOLVED = "resolved", "Resolved"

    OPEN = (State.WARNING, State.CRITICAL)

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="incidents")
    scope_value = models.CharField(max_length=200, blank=True)  # "": the whole project
    state = models.CharField(max_length=8, choices=State.choices)
    opened_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)  # None: no data
    threshold = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)  # of its state
    no_data = models.BooleanField(default=False)  # the last breach was "nothing in the window"
    inside_count = models.PositiveSmallIntegerField(default=0)  # consecutive evaluations back inside
    announced = models.CharField(max_length=8, blank=True)  # the highest level an Alert was written for
    last_evaluated_at = models.DateTimeField()  # the minute last judged: one evaluation counts once

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "scope_value"],
                condition=models.Q(state__in=["warning", "critical"]),
                name="one_open_incident_per_value",
            )
        ]
        indexes = [models.Index(fields=["monitor", "state"], name="incident_monitor_state")]

    def __str__(self) -> str:
        return f"{self.monitor} {self.scope_value or 'project'} {self.state} since {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN
