"""The telemetry tables: runs, spans, log records, and the workers' heartbeats."""

from __future__ import annotations

from django.db import models

from tenancy.models import ApiKey, Project


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
