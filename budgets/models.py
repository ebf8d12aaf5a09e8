"""Budgets, destinations (Slack, webhook, PagerDuty, e-mail) and the alert outbox (see the
budgets issue).

An Alert row is the decision "this threshold of this budget was crossed in this period" (unique
on budget, period_start, threshold) or "this run went over the budget's per-run cap" (unique on
budget, kind, trace_id), so each fires once however often or concurrently evaluation runs.
An anomaly alert (kind "anomaly") is "this series of this AnomalyRule left its baseline band in
this hour" (unique on rule, scope value, incident start and kind); its "recovered" row, with the
same key, says it came back. A monitor alert ("monitor_warning", "monitor_critical",
"monitor_resolved") is one state of one MonitorIncident (unique on incident and kind; see
budgets/monitors/). Delivery reads the row back (outbox) and claims it first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator, validate_email
from django.db import models

from budgets.monitors.models import Monitor, MonitorIncident
from tenancy.models import Project

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


def url_host_allowed(url: str) -> bool:
    """Whether a destination may post to this URL's host (AGENTLEDGER_DESTINATION_ALLOWED_HOSTS;
    empty: any host, loopback included, which is what the tests' stand-ins listen on)."""
    allowed = settings.AGENTLEDGER_DESTINATION_ALLOWED_HOSTS
    return not allowed or (urlsplit(url).hostname or "").lower() in {h.lower() for h in allowed}


def email_addresses(value: str) -> list[str]:
    """The comma-separated addresses of an e-mail destination, each checked; ValidationError
    naming the bad one."""
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if not addresses:
        raise ValidationError("enter one or more e-mail addresses, comma separated")
    if len(addresses) > Destination.MAX_RECIPIENTS:
        raise ValidationError(f"at most {Destination.MAX_RECIPIENTS} addresses")
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{address!r} is not an e-mail address") from None
    return addresses


class Destination(models.Model):
    """Where alerts go, by kind: a Slack incoming webhook, a webhook of your own (JSON, signed
    when it has a secret), a PagerDuty service (Events API v2 routing key) or e-mail addresses.
    The URL, the secret and the routing key are secrets: never shown back (the URL only masked).
    budgets.delivery.dispatch.deliver sends to each kind."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack"
        WEBHOOK = "webhook", "Webhook"
        PAGERDUTY = "pagerduty", "PagerDuty"
        EMAIL = "email", "E-mail"

    # The settings each kind takes; the first is required.
    FIELDS: dict[str, tuple[str, ...]] = {
        Kind.SLACK: ("url",),
        Kind.WEBHOOK: ("url", "secret"),
        Kind.PAGERDUTY: ("routing_key",),
        Kind.EMAIL: ("to",),
    }
    FIELD_LABELS = {"url": "URL", "secret": "secret", "routing_key": "routing key", "to": "e-mail addresses"}
    MAX_RECIPIENTS = 20

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SLACK)
    # The column keeps the name it had when every destination was a Slack webhook.
    url = models.URLField(
        "URL", max_length=500, blank=True, db_column="webhook_url",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Slack: the incoming-webhook URL; webhook: the URL AgentLedger POSTs JSON to",
    )  # fmt: skip
    secret = models.CharField(
        max_length=200, blank=True,
        help_text="webhook, optional: signs each body (X-AgentLedger-Signature: sha256=HMAC of the body)",
    )  # fmt: skip
    routing_key = models.CharField(
        max_length=100, blank=True, help_text="PagerDuty: the integration key of an Events API v2 integration"
    )
    to = models.CharField("to", max_length=1000, blank=True, help_text="e-mail: one or more addresses, comma separated")
    disabled_reason = models.CharField(
        max_length=300, blank=True, help_text="set when the destination refused for good; clear it to re-enable"
    )
    daily_digest = models.BooleanField(
        default=False,
        help_text="send yesterday's cost by agent every morning (the project's time zone); not for PagerDuty, "
        "where a digest is no incident",
    )
    digest_sent_for = models.DateField(null=True, blank=True, editable=False)  # the day last digested (claim)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "budgets_slackdestination"  # its table from when every destination was Slack

    def __str__(self) -> str:
        return self.name

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    @property
    def has_routing_key(self) -> bool:
        return bool(self.routing_key)

    @property
    def masked_url(self) -> str:
        if not self.url:
            return ""
        parts = urlsplit(self.url)
        return (
            f"{parts.scheme}://{parts.netloc}/…{parts.path[-4:]}" if parts.path else f"{parts.scheme}://{parts.netloc}"
        )

    @property
    def recipients(self) -> list[str]:
        return [part.strip() for part in self.to.split(",") if part.strip()]

    def clean(self) -> None:
        """Each kind's own settings, its first one required; the settings of other kinds refused
        rather than stored unused. E-mail addresses are checked and written back one way."""
        fields = self.FIELDS.get(self.kind)
        if fields is None:
            return  # an unknown kind: clean_fields names it
        errors: dict[str, str] = {}
        for field, label in self.FIELD_LABELS.items():
            if getattr(self, field) and field not in fields:
                errors[field] = f"{self.get_kind_display()} destinations take no {label}"
        if not getattr(self, fields[0]):
            errors[fields[0]] = f"required for {self.get_kind_display()} destinations"
        if self.kind == self.Kind.EMAIL and self.to:
            try:
                self.to = ", ".join(email_addresses(self.to))
            except ValidationError as exc:
                errors["to"] = exc.messages[0]
        if self.url and "url" not in errors and not url_host_allowed(self.url):
            hosts = ", ".join(settings.AGENTLEDGER_DESTINATION_ALLOWED_HOSTS)
            errors["url"] = f"this host is not in AGENTLEDGER_DESTINATION_ALLOWED_HOSTS: {hosts}"
        if self.kind == self.Kind.PAGERDUTY and self.daily_digest:
            errors["daily_digest"] = "PagerDuty destinations get no digest: a digest is not an incident"
        if errors:
            raise ValidationError(errors)


class Budget(models.Model):
    class Scope(models.TextChoices):
        ORGANIZATION = "organization", "Whole organization (every project)"
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
    # An organization budget lives in one project (its time zone and destinations) and counts
    # the spend of every project of the organization.
    scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.PROJECT)
    scope_value = models.CharField(
        max_length=200,
        blank=True,
        help_text="the agent, model, user or API key prefix; empty for a whole project or organization",
    )
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.MONTH)
    amount_usd = models.DecimalField(
        "amount (USD)", max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    thresholds = models.JSONField(
        default=default_thresholds, validators=[validate_thresholds], help_text="percents of the amount, e.g. [80, 100]"
    )
    run_cost_cap_usd = models.DecimalField(
        "per-run cost cap (USD)", max_digits=14, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="alert at once when any single run in scope costs this much (a runaway loop); empty: no cap",
    )  # fmt: skip
    run_tool_call_cap = models.PositiveIntegerField(
        "per-run tool-call cap", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="alert at once when any single run in scope makes this many tool calls; empty: no cap",
    )  # fmt: skip
    destinations = models.ManyToManyField(Destination, blank=True, related_name="budgets")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_whole(self) -> bool:
        """Covers all the traffic of its project or organization (no scope value)."""
        return self.scope in (self.Scope.PROJECT, self.Scope.ORGANIZATION)

    def clean(self) -> None:
        if self.is_whole and self.scope_value:
            raise ValidationError({"scope_value": f"leave empty for a whole-{self.scope} budget"})
        if not self.is_whole and not self.scope_value:
            raise ValidationError(
                {"scope_value": f"name the {self.get_scope_display().lower()} this budget applies to"}
            )

    @property
    def scope_label(self) -> str:
        if self.scope == self.Scope.ORGANIZATION:
            return f"whole organization {self.project.organization.name}"
        return "whole project" if self.scope == self.Scope.PROJECT else f"{self.scope} {self.scope_value}"


class AnomalyRule(models.Model):
    """Which series to watch for anomalies (budgets/anomalies.py) and who to tell. Every project
    gets one rule per metric on first detection (budgets.anomalies.services.DEFAULT_RULES); disable
    a rule rather than delete it, or the defaults come back."""

    class Metric(models.TextChoices):
        COST = "cost", "Cost per hour"
        RUNS = "runs", "Runs per hour"
        FAILURE_RATE = "failure_rate", "Run failure rate"
        LATENCY_P95 = "latency_p95", "p95 run latency"
        TOKENS_PER_RUN = "tokens_per_run", "Tokens per run"
        TOOL_ERROR_RATE = "tool_error_rate", "Tool error rate"
        SCORE_PASS_RATE = "score_pass_rate", "Score pass rate"
        SCORE_MEAN = "score_mean", "Score mean"

    SCORE_METRICS = (Metric.SCORE_PASS_RATE, Metric.SCORE_MEAN)

    class Scope(models.TextChoices):
        PROJECT = "project", "Whole project"
        AGENT = "agent", "Agent"
        TOOL = "tool", "Tool"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="anomaly_rules")
    metric = models.CharField(max_length=20, choices=Metric.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.AGENT)
    scope_value = models.CharField(
        max_length=200, blank=True, help_text="one agent or tool; empty: every agent (or tool) separately"
    )
    score_name = models.CharField(
        max_length=200, blank=True, help_text="the score watched (score metrics only), e.g. grounded"
    )
    floor = models.FloatField(
        null=True, blank=True,
        help_text="score metrics: alert when below this (e.g. 0.9 for a 90% pass rate) rather than against the "
        "7-day baseline; empty: the baseline",
    )  # fmt: skip
    sensitivity = models.FloatField(
        default=3.0, validators=[MinValueValidator(0.5)], help_text="k: alert beyond k robust sigmas; higher is quieter"
    )
    sustained = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="consecutive out-of-band hours before alerting; empty: the metric's default (2 for latency, 1 for cost)",
    )  # fmt: skip
    min_volume = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="hours with fewer runs (tool calls) are not judged; empty: the metric's default",
    )  # fmt: skip
    destinations = models.ManyToManyField(
        Destination, blank=True, related_name="anomaly_rules", help_text="empty: every destination of the project"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.metric_label}, {self.scope_label}"

    @property
    def metric_label(self) -> str:
        """ "Cost per hour"; a score metric names its score: "Score pass rate of grounded"."""
        label = self.get_metric_display()
        return f"{label} of {self.score_name}" if self.score_name else label

    def clean(self) -> None:
        if self.scope == self.Scope.PROJECT and self.scope_value:
            raise ValidationError({"scope_value": "leave empty for a whole-project rule"})
        is_score = self.metric in self.SCORE_METRICS
        if is_score and not self.score_name:
            raise ValidationError({"score_name": "name the score this rule watches"})
        if not is_score and (self.score_name or self.floor is not None):
            field = "score_name" if self.score_name else "floor"
            raise ValidationError({field: "only score metrics take a score name and a floor"})
        tools = self.metric == self.Metric.TOOL_ERROR_RATE
        if (self.scope == self.Scope.TOOL) != tools and self.scope != self.Scope.PROJECT:
            raise ValidationError({"scope": "tool error rate is watched per tool, the other metrics per agent"})

    @property
    def scope_label(self) -> str:
        if self.scope == self.Scope.PROJECT:
            return "whole project"
        return f"{self.scope} {self.scope_value}" if self.scope_value else f"every {self.scope}"


class Alert(models.Model):
    """Outbox row: a crossed threshold, a run over a per-run cap, or an anomaly (and its
    recovery), delivered by budgets.services.send_alert."""

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Budget threshold"
        RUN_COST = "run_cost", "Run over the cost cap"
        RUN_TOOL_CALLS = "run_tools", "Run over the tool-call cap"
        ANOMALY = "anomaly", "Anomaly"
        RECOVERED = "recovered", "Anomaly recovered"
        MONITOR_WARNING = "monitor_warning", "Monitor warning"
        MONITOR_CRITICAL = "monitor_critical", "Monitor critical"
        MONITOR_RESOLVED = "monitor_resolved", "Monitor resolved"

    MONITOR_KINDS = (Kind.MONITOR_WARNING, Kind.MONITOR_CRITICAL, Kind.MONITOR_RESOLVED)

    class Undeliverable(models.TextChoices):
        """Why delivery waits for a user rather than retrying (checked again hourly, and at once
        when a destination is added, chosen or re-enabled)."""

        NO_DESTINATION = "no_destination", "no destination"
        DESTINATIONS_DISABLED = "disabled", "destination disabled"

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts", null=True, blank=True)
    anomaly_rule = models.ForeignKey(
        AnomalyRule, on_delete=models.CASCADE, related_name="alerts", null=True, blank=True
    )
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts", null=True, blank=True)
    incident = models.ForeignKey(
        MonitorIncident, on_delete=models.CASCADE, related_name="alerts", null=True, blank=True
    )
    metric = models.CharField(max_length=20, blank=True)  # an anomaly's or a monitor's metric
    scope_value = models.CharField(max_length=200, blank=True)  # an anomaly's or monitor's scope value ("": project)
    observed = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    expected = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    band_low = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    band_high = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.THRESHOLD)
    trace_id = models.CharField(max_length=32, blank=True)  # the run over a cap
    period_start = models.DateTimeField()
    # A budget's crossed threshold (percent), its spend and amount; a run cap's 100, the run's
    # cost or tool calls and the cap; a monitor's threshold of the state announced (in the
    # metric's unit). Empty for anomalies, which have a band instead.
    threshold = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    spend = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    sensitivity = models.FloatField(null=True, blank=True)  # an anomaly rule's band width when it fired
    projected = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)  # also the lease of a claimed send
    last_error = models.CharField(max_length=500, blank=True)
    undeliverable = models.CharField(max_length=14, choices=Undeliverable.choices, blank=True, default="")
    delivered_to = models.ManyToManyField(Destination, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold"],
                condition=models.Q(kind="threshold"),
                name="one_alert_per_threshold",
            ),
            models.UniqueConstraint(
                fields=["budget", "kind", "trace_id"],
                condition=models.Q(kind__in=["run_cost", "run_tools"]),
                name="one_alert_per_capped_run",
            ),
            models.UniqueConstraint(
                fields=["anomaly_rule", "scope_value", "period_start", "kind"],
                condition=models.Q(kind__in=["anomaly", "recovered"]),
                name="one_alert_per_anomaly",
            ),
            models.UniqueConstraint(
                fields=["incident", "kind"],
                condition=models.Q(kind__in=["monitor_warning", "monitor_critical", "monitor_resolved"]),
                name="one_alert_per_incident_state",
            ),
        ]

    def __str__(self) -> str:
        if self.monitor_id is not None:
            return f"{self.monitor} {self.scope_value or 'project'} {self.kind.removeprefix('monitor_')}"
        if self.anomaly_rule_id is not None:
            state = "recovered" if self.kind == self.Kind.RECOVERED else "anomaly"
            return f"{self.metric} {self.scope_value or 'project'} {state} from {self.period_start:%Y-%m-%d %H}:00"
        if self.kind != self.Kind.THRESHOLD:
            return f"{self.budget}: run {self.trace_id} over its cap"
        percent = "?" if self.threshold is None else f"{self.threshold.normalize():f}"
        return f"{self.budget} {percent}% from {self.period_start:%Y-%m-%d}"
