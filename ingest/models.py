"""Tenancy (Organization → Project → ApiKey, memberships) and the telemetry tables."""

from __future__ import annotations

import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


def validate_agent_pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"not a regular expression: {exc}") from None


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Paris, UTC)")


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="organizations")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        EDITOR = "editor", "Editor"
        ADMIN = "admin", "Admin"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="days to keep runs and spans (rollups are kept); empty: keep forever",
    )
    # Redaction happens at intake, before storage (ingest/redaction.py): turning it on does not
    # rewrite what was stored before, and what arrives after is never stored unredacted.
    redact_secrets = models.BooleanField(
        default=False,
        help_text="replace API keys, bearer tokens, JWTs, passwords, private keys and values of "
        "attributes named like credentials (authorization, api_key, password, token, secret, cookie) "
        "by [REDACTED:kind] before spans and logs are stored",
    )
    redact_pii = models.BooleanField(
        default=False,
        help_text="replace e-mail addresses, payment card numbers and phone numbers by [REDACTED:kind] "
        "before spans and logs are stored",
    )
    # ingest/agent_names.py: for libraries that export no agent name.
    agent_attribute = models.CharField(
        max_length=200,
        blank=True,
        help_text="a span attribute whose value names the agent (e.g. app.agent); wins over what the conventions read",
    )
    agent_span_name = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_agent_pattern],
        help_text=r"a regular expression over span names that names the agent: its first group, else the whole "
        r"match (e.g. ^(\w+Agent)\.run$ names SupportAgent from a span SupportAgent.run)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="project_slug_per_org")]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ApiKey(models.Model):
    """A project's ingest/query key. Only a SHA-256 of the key is stored; the prefix stays visible."""

    PREFIX_LENGTH = 11  # "al_" + 8 characters

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserProfile(models.Model):
    """A dashboard user's own settings: the time zone pages are shown in (empty: the project's)
    and the project they last opened."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    last_project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone or 'project time zone'})"


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the periodic heartbeat task (shown by /readyz)."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class Run(models.Model):
    """One trace: an agent run. Totals are recomputed from its spans, so they converge however
    the spans arrive (split over requests, out of order, re-sent)."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"

    # No index of their own, as on Span: every read is by project first, which the composite
    # indexes below serve, and a run is rewritten in every index each time its trace grows.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs", db_index=False)
    trace_id = models.CharField(max_length=32)
    name = models.CharField(max_length=512, blank=True)
    agent_name = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    root_span_id = models.CharField(max_length=16, blank=True)
    has_root = models.BooleanField(default=False)  # False while the parentless span has not arrived
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OK)
    error_message = models.TextField(blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    span_count = models.PositiveIntegerField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    failed_llm_calls = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    tool_errors = models.PositiveIntegerField(default=0)
    guardrail_trips = models.PositiveIntegerField(default=0)  # guardrail verdicts other than "allow"
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    unpriced_calls = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="one_run_per_trace")]
        indexes = [
            models.Index(fields=["project", "-start_time"], name="run_project_start"),
            models.Index(
                fields=["project", "agent_name", "-start_time"],
                name="run_project_agent_start",
            ),
            # the runs list sorted by cost or duration (keyset pages on value, id)
            models.Index(fields=["project", "cost_usd", "id"], name="run_project_cost"),
            models.Index(fields=["project", "duration_ms", "id"], name="run_project_duration"),
            # a session's runs in order, a user's recent runs
            models.Index(fields=["project", "session_id", "start_time"], name="run_project_session"),
            models.Index(fields=["project", "user_id", "-start_time"], name="run_project_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.trace_id} ({self.status})"


class Span(models.Model):
    """One span as normalized at intake, with its raw attributes kept for diagnosis."""

    class CostSource(models.TextChoices):
        REPORTED = "reported", "Reported by the span"
        COMPUTED = "computed", "Computed from the price book"
        OVERRIDE = "override", "Project price override"
        UNPRICED = "unpriced", "Unpriced (model unknown)"
        NONE = "", "Not a priced call"

    # No index of their own: every read is by project and then trace or time, which the
    # composite indexes below serve. A lone project index was a trap for the planner (without
    # fresh statistics it read the whole project to find one trace), and each index costs intake.
    # No database constraint either: only intake writes spans, with its own key's project, and
    # PostgreSQL's check of each inserted span against its project and key (a locking lookup of
    # the same two rows by every concurrent request) was a fifth of its intake work. Deletes
    # still cascade, through Django.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="spans", db_index=False, db_constraint=False
    )
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=512)
    display_name = models.CharField(max_length=512, blank=True)
    kind = models.CharField(max_length=16)
    convention = models.CharField(max_length=32, blank=True)
    operation = models.CharField(max_length=64, blank=True)
    otel_kind = models.PositiveSmallIntegerField(default=0)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    is_error = models.BooleanField(default=False)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    provider = models.CharField(max_length=100, blank=True)
    request_model = models.CharField(max_length=200, blank=True)
    response_model = models.CharField(max_length=200, blank=True)
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    cache_read_tokens = models.BigIntegerField(null=True, blank=True)
    cache_write_tokens = models.BigIntegerField(null=True, blank=True)
    reasoning_tokens = models.BigIntegerField(null=True, blank=True)
    aggregated_usage = models.BooleanField(default=False)
    # Decided per run: does this span's usage and cost count in totals? (leaf LLM calls only,
    # one per duplicated call; wrapper spans only when a run has no LLM usage at all)
    counts_usage = models.BooleanField(default=False)
    reported_cost = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    cost_source = models.CharField(max_length=10, choices=CostSource.choices, blank=True, default="")
    computed_cost = models.DecimalField(
        max_digits=20, decimal_places=10, null=True, blank=True
    )  # price book / override
    cost_discrepancy = models.DecimalField(
        max_digits=20, decimal_places=10, null=True, blank=True
    )  # reported - computed, if > 1%
    price_ref = models.CharField(max_length=200, blank=True)  # what priced it: "openai:gpt-4o", "override #3"
    response_id = models.CharField(max_length=200, blank=True)
    finish_reason = models.CharField(max_length=64, blank=True)
    tool_name = models.CharField(max_length=200, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    mcp_server = models.CharField(max_length=200, blank=True)  # a `tools/call`'s MCP server
    guardrail_verdict = models.CharField(max_length=40, blank=True)  # a guardrail span's verdict
    agent_name = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    resource = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=list, blank=True)
    unmapped = models.JSONField(default=list, blank=True)
    usage_warnings = models.JSONField(default=list, blank=True)  # conventions.usage.WARNINGS codes
    # Tokens of non-text modalities, by price-book usage key ({"input_audio_tokens": 300}), inside the totals
    modality_tokens = models.JSONField(default=dict, blank=True)
    # Run-level facts this span carried: run_name, environment, tags, service_name, is_root
    run_hints = models.JSONField(default=dict, blank=True)
    scope_name = models.CharField(max_length=200, blank=True)
    scope_version = models.CharField(max_length=100, blank=True)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id", "span_id"], name="one_span_per_id")]
        indexes = [
            models.Index(fields=["project", "start_time"], name="span_project_start"),
            models.Index(fields=["project", "kind", "start_time"], name="span_project_kind_start"),
            # The models page lists calls without a price: few spans, found without scanning the rest.
            models.Index(
                fields=["project", "start_time"],
                condition=models.Q(cost_source="unpriced"),
                name="span_unpriced_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.display_name or self.name}"


class PriceOverride(models.Model):
    """A project's own price for a model (fine-tuned, self-hosted, negotiated), per million tokens."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="price_overrides")
    model_pattern = models.CharField(
        max_length=200,
        help_text="exact model name, or a pattern such as ft:gpt-4o* or my-llama-*",
    )
    provider = models.CharField(max_length=100, blank=True, help_text="empty: any provider")
    effective_from = models.DateTimeField(help_text="spans from this time on use this price")
    input_per_mtok = models.DecimalField(
        "input $/M tokens", max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    output_per_mtok = models.DecimalField(
        "output $/M tokens", max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    cache_read_per_mtok = models.DecimalField(
        "cache read $/M tokens", max_digits=14, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(0)], help_text="empty: priced as input",
    )  # fmt: skip
    cache_write_per_mtok = models.DecimalField(
        "cache write $/M tokens", max_digits=14, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(0)], help_text="empty: priced as input",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "model_pattern", "provider", "effective_from"],
                name="one_override_per_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_pattern} from {self.effective_from:%Y-%m-%d}"


class LogRecord(models.Model):
    """A GenAI event that arrived on the logs signal (message content), joined to its span by id."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    time = models.DateTimeField()
    name = models.CharField(max_length=200)
    attributes = models.JSONField(default=dict, blank=True)
    body = models.JSONField(null=True, blank=True)
    digest = models.CharField(max_length=64)  # of time, name and content: a re-sent record is stored once

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "trace_id", "span_id", "digest"],
                name="one_log_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.trace_id}/{self.span_id}"


# --- Rollups: derived from Run and Span, dropped and rebuilt at will (ingest/rollups.py) ---


class Period(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day (UTC)"


class RollupDirty(models.Model):
    """A bucket whose rollups must be recomputed. Ingest marks hours (a new token each time); a
    worker claims the row (claimed_at, compare-and-swap), recomputes the bucket and deletes the
    row only if its token is still the one it claimed, so a mark made meanwhile is never lost.
    A claim older than rollups.CLAIM_TIMEOUT is taken over (its worker died)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=4, choices=Period.choices)
    bucket = models.DateTimeField()
    token = models.CharField(max_length=32)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "period", "bucket"], name="one_dirty_row_per_bucket")]
        indexes = [models.Index(fields=["period", "bucket"], name="rollup_dirty_bucket")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.period} {self.bucket:%Y-%m-%d %H}:00"


class RollupBucket(models.Model):
    """What every rollup row is keyed by first: its project and its hour or UTC day."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=4, choices=Period.choices)
    bucket = models.DateTimeField()  # start of the hour or UTC day

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
    duration_sketch = models.BinaryField()  # ingest.sketches: run durations in ms

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
        constraints = [
            models.UniqueConstraint(fields=["project", "period", "bucket", "tool_name"], name="one_tool_rollup_row")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H}:00 {self.tool_name}"


class UserTotalRollup(RunMeasures):
    """UserRollup summed over agents, for the by-user views: a row per user and bucket."""

    user_id = models.CharField(max_length=200, blank=True)

    class Meta:
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
