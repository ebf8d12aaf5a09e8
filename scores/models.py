"""A Score: one judgement of a run (or of one of its spans), from the API, a person, OTel or an
evaluator. It names its run by trace id rather than by foreign key, because a score may arrive
before its run does (an evaluation event in an earlier batch than the root span)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models

from tenancy.models import Project


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


# --- Evaluators: an LLM judge grading live runs (scores/evaluators/) ------------------------


def validate_rubric(value: str) -> None:
    """A rubric must compile in the restricted template language and use the run's data."""
    from scores.evaluators import rubric  # the template engine is built on first use, not at model import

    try:
        rubric.check(value)
    except rubric.RubricError as exc:
        raise ValidationError(str(exc)) from None


class Evaluator(models.Model):
    """An LLM-as-judge: which runs it grades, how (rubric, verdict type), with which model
    reached through an OpenAI-compatible endpoint, and how much it may spend a day."""

    class RunStatus(models.TextChoices):
        ANY = "any", "Any"
        OK = "ok", "OK only"
        ERROR = "error", "Failed only"

    class VerdictType(models.TextChoices):
        BINARY = "binary", "Pass / fail"
        SCALE = "scale", "Scale 0-10"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="evaluators")
    name = models.CharField(max_length=200, help_text="also the author of its scores")
    enabled = models.BooleanField(default=True)
    agent_name = models.CharField(max_length=200, blank=True, help_text="grade only this agent's runs; empty: all")
    run_status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.ANY)
    sample_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(100),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="percent of the matching runs to grade, chosen by trace id (the same run always decides the same)",
    )
    min_run_cost_usd = models.DecimalField(
        "minimum run cost (USD)",
        max_digits=20,
        decimal_places=10,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="grade only runs that cost at least this much; empty: any cost",
    )
    rubric = models.TextField(
        max_length=20_000,
        validators=[validate_rubric],
        help_text="the judge's instructions, a Django template over {{ input }}, {{ output }}, "
        "{{ tool_calls }} and {{ run }} (see the README)",
    )
    verdict_type = models.CharField(max_length=8, choices=VerdictType.choices, default=VerdictType.BINARY)
    score_name = models.CharField(max_length=200, blank=True, help_text="name of the scores it writes; empty: its name")
    judge_model = models.CharField(max_length=200, help_text="e.g. gpt-4o-mini")
    base_url = models.URLField(
        "base URL",
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="an OpenAI-compatible API, e.g. https://api.openai.com/v1; empty: AGENTLEDGER_JUDGE_BASE_URL",
    )
    # A secret: write-only in the API and the admin, shown back only masked (like a Slack webhook).
    api_key = models.CharField(max_length=500, blank=True)
    daily_cap_usd = models.DecimalField(
        "daily spend cap (USD)",
        max_digits=14,
        decimal_places=6,
        default=Decimal(1),
        validators=[MinValueValidator(0)],
        help_text="no judge call once today's judge cost (the project's day) reaches this",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="one_evaluator_name_per_project")]

    def __str__(self) -> str:
        return self.name

    @property
    def scores_as(self) -> str:
        return self.score_name or self.name

    @property
    def masked_api_key(self) -> str:
        """ "sk-…wxyz": enough to tell keys apart, never enough to use one."""
        if not self.api_key:
            return ""
        return f"{self.api_key[:3]}…{self.api_key[-4:]}" if len(self.api_key) >= 12 else "…"


class Evaluation(models.Model):
    """One evaluator's outcome for one run. Inserting it is the claim: the unique (evaluator,
    trace) key means a run is decided once, however often the task that finds it runs. A pending
    evaluation is an outbox row: `next_attempt_at` doubles as the lease a judging pass takes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        ERROR = "error", "Error"
        SKIPPED_CAP = "skipped_cap", "Skipped: daily cap reached"
        NOT_SAMPLED = "not_sampled", "Not sampled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="evaluations")
    trace_id = models.CharField(max_length=32)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)  # why it failed (or, while pending, why the last try did)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    score = models.ForeignKey(Score, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    judge_model = models.CharField(max_length=200, blank=True)  # as the judge answered it
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    cache_read_tokens = models.BigIntegerField(null=True, blank=True)
    reasoning_tokens = models.BigIntegerField(null=True, blank=True)
    # The judge's own cost: never part of the run's cost.
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    cost_source = models.CharField(max_length=10, blank=True)  # computed | override | unpriced
    price_ref = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["evaluator", "trace_id"], name="one_evaluation_per_run")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="evaluation_due"),
            models.Index(fields=["evaluator", "finished_at"], name="evaluation_evaluator_finished"),
            models.Index(fields=["project", "trace_id"], name="evaluation_project_trace"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluator} on {self.trace_id}: {self.status}"
