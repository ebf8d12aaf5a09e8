"""The rollup tables: runs, users, LLM calls and tool calls by hour and UTC day, derived from runs
and spans and rebuilt at will (aggregates/rollups.py), and the marks of buckets to recompute.

Moved here from ingest with state-only migrations: the tables keep their `ingest_*` names."""

from __future__ import annotations

from django.db import models

from tenancy.models import ApiKey, Project


class Period(models.TextChoices):
    MINUTE = "min", "Minute"  # kept AGENTLEDGER_MINUTE_RETENTION_DAYS
    HOUR = "hour", "Hour"
    DAY = "day", "Day (UTC)"


class Mark(models.TextChoices):
    """What a RollupDirty row asks for."""

    HOUR = "hour", "Recompute the hour from its runs (repair)"
    DAY = "day", "Recompute the UTC day from its hours (repair)"
    SCORES = "scores", "Roll the hour's scores up again"


class RollupDirty(models.Model):
    """A bucket to recompute (a repair: `rollup --rebuild`, an upgrade) or an hour whose scores
    are due. A new token each time it is marked; a worker claims the row (claimed_at,
    compare-and-swap), does the work and deletes the row only if its token is still the one it
    claimed, so a mark made meanwhile is never lost. A claim older than rollups.CLAIM_TIMEOUT is
    taken over (its worker died)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=8, choices=Mark.choices)
    bucket = models.DateTimeField()
    token = models.CharField(max_length=32)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ingest_rollupdirty"
        constraints = [models.UniqueConstraint(fields=["project", "period", "bucket"], name="one_dirty_row_per_bucket")]
        indexes = [models.Index(fields=["period", "bucket"], name="rollup_dirty_bucket")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.period} {self.bucket:%Y-%m-%d %H}:00"


class TraceDirty(models.Model):
    """A trace whose spans or run changed since its contribution to the rollups was last applied.
    Intake marks it in its own transaction (a new token each time); the delta pass deletes the
    mark only if the token is still the one it read, so a change made meanwhile is applied too."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    token = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="one_mark_per_trace")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.trace_id}"


class RunContribution(models.Model):
    """What one run added to the rollup rows when it was last applied (aggregates/contributions.py):
    its row of each table, measures and durations. The next change applies only the difference."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    minute = models.DateTimeField()  # the minute the run started in: its buckets
    rows = models.TextField(default="[]")  # JSON, encoded and read by contributions.encode/decode

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="one_contribution_per_run")]
        indexes = [models.Index(fields=["project", "minute"], name="contribution_minute")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.trace_id}"


class RollupBucket(models.Model):
    """What every rollup row is keyed by first: its project and its hour or UTC day."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=4, choices=Period.choices)
    bucket = models.DateTimeField()  # start of the minute, hour or UTC day

    class Meta:
        abstract = True


class RunMeasures(RollupBucket):
    """What the run rollups measure: run counts and the totals of their counted calls."""

    runs = models.PositiveIntegerField(default=0)
    failed_runs = models.PositiveIntegerField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    failed_llm_calls = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    tool_errors = models.PositiveIntegerField(default=0)
    guardrail_trips = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    duration_sketch = models.BinaryField()  # aggregates.sketches: run durations in ms

    class Meta:
        abstract = True


class RunRollup(RunMeasures):
    """Runs by the UTC hour (or day) they started in, per agent, API key and status."""

    agent_name = models.CharField(max_length=200, blank=True)
    api_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(max_length=8)

    class Meta:
        db_table = "ingest_runrollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "period",
                    "bucket",
                    "agent_name",
                    "api_key",
                    "status",
                ],
                name="one_run_rollup_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.agent_name} {self.status}"


class UserRollup(RunMeasures):
    """Runs by the UTC hour (or day) they started in, per user and agent: the one high-cardinality
    dimension gets its own table, so the others stay small."""

    user_id = models.CharField(max_length=200, blank=True)
    agent_name = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "ingest_userrollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "period",
                    "bucket",
                    "user_id",
                    "agent_name",
                ],
                name="one_user_rollup_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.user_id} {self.agent_name}"


class CallMeasures(RollupBucket):
    """What the LLM call rollups measure. Tokens and cost are those of the spans that count in
    run totals (Span.counts_usage)."""

    calls = models.PositiveIntegerField(default=0)
    failed_calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    # Failed calls that were the provider's failure: 429, 5xx, overloaded (ingest/provider_errors.py).
    provider_errors = models.PositiveIntegerField(default=0)
    duration_sketch = models.BinaryField()  # call durations in ms

    class Meta:
        abstract = True


class LlmCallRollup(CallMeasures):
    """LLM calls of the runs that started in the bucket, per agent, model, provider and API key."""

    agent_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    api_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        db_table = "ingest_llmcallrollup"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "period",
                    "bucket",
                    "agent_name",
                    "model",
                    "provider",
                    "api_key",
                ],
                name="one_llm_call_rollup_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.model}"


class ToolMeasures(RollupBucket):
    """What the tool call rollups measure."""

    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    duration_sketch = models.BinaryField()  # tool call durations in ms

    class Meta:
        abstract = True


class ToolCallRollup(ToolMeasures):
    """Tool calls of the runs that started in the bucket, per agent and tool."""

    agent_name = models.CharField(max_length=200, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "ingest_toolcallrollup"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "period", "bucket", "agent_name", "tool_name"],
                name="one_tool_call_rollup_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.tool_name}"


class ModelRollup(CallMeasures):
    """LlmCallRollup summed over agents and API keys: the by-model and by-provider views read a
    row per model instead of one per model, agent and key (20x fewer sketches to merge)."""

    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)

    class Meta:
        db_table = "ingest_modelrollup"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "period", "bucket", "model", "provider"], name="one_model_rollup_row"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.model}"


class ToolRollup(ToolMeasures):
    """ToolCallRollup summed over agents, for the by-tool views."""

    tool_name = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "ingest_toolrollup"
        constraints = [
            models.UniqueConstraint(fields=["project", "period", "bucket", "tool_name"], name="one_tool_rollup_row")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.tool_name}"


class UserTotalRollup(RunMeasures):
    """UserRollup summed over agents, for the by-user views: a row per user and bucket."""

    user_id = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "ingest_usertotalrollup"
        constraints = [
            models.UniqueConstraint(fields=["project", "period", "bucket", "user_id"], name="one_user_total_rollup_row")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.user_id}"


RollupModel = (
    type[RunRollup]
    | type[UserRollup]
    | type[LlmCallRollup]
    | type[ToolCallRollup]
    | type[UserTotalRollup]
    | type[ModelRollup]
    | type[ToolRollup]
)
