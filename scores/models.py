"""A Score: one judgement of a run (or of one of its spans), from the API, a person, OTel or an
evaluator. It names its run by trace id rather than by foreign key, because a score may arrive
before its run does (an evaluation event in an earlier batch than the root span)."""

from __future__ import annotations

from django.db import models

from ingest.models import Project


class Score(models.Model):
    class DataType(models.TextChoices):
        NUMERIC = "numeric", "Numeric"
        BOOLEAN = "boolean", "Boolean"  # value 1 (pass, thumbs up) or 0 (fail, thumbs down)
        CATEGORICAL = "categorical", "Categorical"  # the label is the score

    class Source(models.TextChoices):
        API = "api", "API"
        ANNOTATION = "annotation", "Annotation"
        OTEL = "otel", "OpenTelemetry"
        EVALUATOR = "evaluator", "Evaluator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scores")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16, blank=True, default="")  # "": the run as a whole
    name = models.CharField(max_length=200)
    data_type = models.CharField(max_length=12, choices=DataType.choices)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True)
    explanation = models.TextField(blank=True)
    source = models.CharField(max_length=12, choices=Source.choices)
    author = models.CharField(max_length=200, blank=True)  # username, evaluator or service, key prefix
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # a re-sent score replaces the one before it (services.scores_upsert)
            models.UniqueConstraint(
                fields=["project", "trace_id", "span_id", "name", "source", "author"],
                name="one_score_per_author",
            )
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="score_project_created"),
            models.Index(fields=["project", "name", "created_at"], name="score_project_name_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.shown_value or self.label} on {self.trace_id}"

    @property
    def shown_value(self) -> str:
        """The value as people write it: 0.25, 4, 1e-05 (never 0.250000)."""
        return "" if self.value is None else f"{self.value:g}"


class ScoreRollup(models.Model):
    """Scores of the runs that started in a UTC hour, per agent and score name (as the ingest
    rollups bucket runs, so quality lines up with cost hour by hour). Recomputed with the hour
    by the rollup pass (scores.receivers); a score arriving later marks its run's hour dirty."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField()  # start of the UTC hour
    agent_name = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200)
    scores = models.PositiveIntegerField(default=0)  # scores with a value (numeric or boolean)
    value_sum = models.FloatField(default=0)
    booleans = models.PositiveIntegerField(default=0)  # of which pass/fail
    passed = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)  # distinct runs scored
    cost_usd = models.DecimalField(max_digits=18, decimal_places=10, default=0)  # of those runs, once each
    passing_runs = models.PositiveIntegerField(default=0)  # runs whose pass/fail scores of this name all pass

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "bucket", "agent_name", "name"], name="one_score_rollup"),
        ]
        indexes = [models.Index(fields=["project", "name", "bucket"], name="score_rollup_name_bucket")]

    def __str__(self) -> str:
        return f"{self.name} of {self.agent_name or '(no agent)'} at {self.bucket:%Y-%m-%d %H:00}"
