"""Budgets, destinations (of every kind), anomaly rules, monitors and alerts in the Django admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest

from budgets import messages as alert_messages
from budgets import services, spending
from budgets.delivery import outbox
from budgets.delivery.errors import NotifyError
from budgets.models import Alert, AnomalyRule, Budget, Destination
from budgets.monitors import services as monitor_services
from budgets.monitors.models import Monitor, MonitorIncident
from ingest.models import Run


def _status(budget: Budget) -> spending.BudgetStatus:
    """Computed once per row of the changelist (every column reads the same object)."""
    cached: spending.BudgetStatus | None = getattr(budget, "_status_cache", None)
    if cached is None:
        cached = spending.budget_status(budget)
        budget._status_cache = cached  # type: ignore[attr-defined]
    return cached


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("ok", "OK"), ("warning", "Warning"), ("exceeded", "Exceeded")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        wanted = [b.pk for b in queryset.select_related("project") if _status(b).state == self.value()]
        return queryset.filter(pk__in=wanted)


class BudgetForm(forms.ModelForm[Budget]):
    class Meta:
        model = Budget
        fields = (
            "project",
            "name",
            "scope",
            "scope_value",
            "period",
            "amount_usd",
            "thresholds",
            "run_cost_cap_usd",
            "run_tool_call_cap",
            "destinations",
            "enabled",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        project = cleaned.get("project")
        others = [d for d in cleaned.get("destinations") or [] if project is not None and d.project_id != project.pk]
        if others:
            self.add_error("destinations", f"not a destination of this project: {', '.join(map(str, others))}")
        return cleaned


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin[Budget]):
    form = BudgetForm
    list_display = (
        "name",
        "project",
        "scope",
        "scope_value",
        "period",
        "amount_usd",
        "spend",
        "used",
        "state",
        "enabled",
    )
    list_filter = ("scope", StateFilter, "period", "enabled", "project")
    list_select_related = ("project",)
    search_fields = ("name", "scope_value")
    filter_horizontal = ("destinations",)  # delivery only uses the rule's own project's

    @admin.display(description="spend this period")
    def spend(self, budget: Budget) -> str:
        return alert_messages.money(_status(budget).spend)

    @admin.display(description="% used")
    def used(self, budget: Budget) -> str:
        return f"{_status(budget).percent:.1f}%"

    @admin.display(description="state")
    def state(self, budget: Budget) -> str:
        return _status(budget).state

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if (
            obj.scope == Budget.Scope.AGENT
            and not Run.objects.filter(project=obj.project, agent_name=obj.scope_value).exists()
        ):
            messages.warning(
                request, f"No run of an agent named “{obj.scope_value}” has been seen in {obj.project} yet."
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        outbox.alerts_recheck(form.instance.alerts.all())  # those waiting for a destination may have one now


def _write_only(**attrs: Any) -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", **attrs})


class DestinationForm(forms.ModelForm[Destination]):
    """The URL, the secret and the routing key are write-only: never rendered back; left empty on
    change, the stored one is kept (while the kind still uses it)."""

    WRITE_ONLY = ("url", "secret", "routing_key")

    url = forms.URLField(
        label="URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        widget=_write_only(size=80),
        help_text="Slack: the incoming-webhook URL; webhook: where AgentLedger POSTs the JSON. Stored but never "
        "shown again; leave empty to keep the current one.",
    )
    secret = forms.CharField(
        max_length=200,
        required=False,
        widget=_write_only(size=40),
        help_text="Optional: signs each body (X-AgentLedger-Signature: sha256=HMAC-SHA256 of the body). Never "
        "shown again; leave empty to keep the current one.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the secret", help_text="send unsigned bodies")
    routing_key = forms.CharField(
        max_length=100,
        required=False,
        widget=_write_only(size=40),
        help_text="The integration key of an Events API v2 integration of your PagerDuty service. Never shown "
        "again; leave empty to keep the current one.",
    )

    class Meta:
        model = Destination
        fields = ("project", "name", "kind", "url", "secret", "routing_key", "to", "daily_digest")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        own = Destination.FIELDS.get(kind or "", ())
        for field in self.WRITE_ONLY:
            if not cleaned.get(field) and field in own and self.instance.pk and self.instance.kind == kind:
                cleaned[field] = getattr(self.instance, field)  # kept
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        return cleaned


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin[Destination]):
    """One form for every kind: the script shows the settings of the chosen kind only (without
    it, every section shows, each titled with its kind)."""

    form = DestinationForm
    list_display = ("name", "kind", "project", "target", "status", "daily_digest", "created")
    list_filter = ("kind", "project")
    readonly_fields = ("current_url", "secret_set", "routing_key_set", "disabled_reason", "created")
    fieldsets = (
        (None, {"fields": ("project", "name", "kind")}),
        ("Slack or webhook", {"fields": ("url", "current_url"), "classes": ("kind-slack", "kind-webhook")}),
        ("Webhook signature", {"fields": ("secret", "secret_set", "clear_secret"), "classes": ("kind-webhook",)}),
        ("PagerDuty", {"fields": ("routing_key", "routing_key_set"), "classes": ("kind-pagerduty",)}),
        ("E-mail", {"fields": ("to",), "classes": ("kind-email",)}),
        (None, {"fields": ("daily_digest", "disabled_reason", "created")}),
    )
    actions = ("send_test_message", "enable")

    class Media:
        js = ("js/destination_kind.js",)

    def save_model(self, request: HttpRequest, obj: Destination, form: Any, change: bool) -> None:
        services.destination_save(obj)  # alerts that waited for a destination go at once

    @admin.display(description="sends to")
    def target(self, destination: Destination) -> str:
        if destination.kind == Destination.Kind.EMAIL:
            return destination.to
        if destination.kind == Destination.Kind.PAGERDUTY:
            return "PagerDuty (routing key set)" if destination.routing_key else "PagerDuty (no routing key)"
        return destination.masked_url

    @admin.display(description="current URL")
    def current_url(self, destination: Destination) -> str:
        return destination.masked_url or "none"

    @admin.display(description="current secret")
    def secret_set(self, destination: Destination) -> str:
        return "set (hidden)" if destination.secret else "none: bodies are not signed"

    @admin.display(description="current routing key")
    def routing_key_set(self, destination: Destination) -> str:
        return "set (hidden)" if destination.routing_key else "none"

    @admin.display(description="status")
    def status(self, destination: Destination) -> str:
        return "enabled" if destination.enabled else f"disabled: {destination.disabled_reason}"

    @admin.action(description="Send a test message")
    def send_test_message(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset.select_related("project__organization"):
            try:
                outbox.destination_send_test(destination)
            except NotifyError as exc:
                messages.error(request, f"{destination}: {exc.message}")
            else:
                messages.success(request, f"{destination}: test message sent")

    @admin.action(description="Re-enable (and deliver the alerts that waited)")
    def enable(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:
            outbox.destination_enable(destination)
        messages.success(request, f"{len(queryset)} destination(s) enabled")


@admin.register(AnomalyRule)
class AnomalyRuleAdmin(admin.ModelAdmin[AnomalyRule]):
    """Every project gets default rules on its first detection pass: disable one rather than
    delete it (a project with no rule at all gets the defaults again)."""

    list_display = (
        "metric", "score_name", "project", "scope_label", "floor", "sensitivity", "sustained", "min_volume", "enabled",
    )  # fmt: skip
    list_filter = ("project", "metric", "enabled")
    list_editable = ("sensitivity", "enabled")
    filter_horizontal = ("destinations",)  # delivery only uses the rule's own project's

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        outbox.alerts_recheck(form.instance.alerts.all())  # those waiting for a destination may have one now


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = (
        "budget",
        "anomaly_rule",
        "kind",
        "threshold",
        "trace_id",
        "period_start",
        "spend",
        "amount",
        "created_at",
        "sent_at",
        "attempts",
        "last_error",
        "undeliverable",
    )
    list_filter = ("budget__project", "kind", "threshold")
    list_select_related = ("budget", "anomaly_rule")
    readonly_fields = [f.name for f in Alert._meta.get_fields() if f.concrete and not f.many_to_many]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class MonitorIncidentInline(admin.TabularInline[MonitorIncident, Monitor]):
    """What the monitor has seen: written by evaluation only."""

    model = MonitorIncident
    fields = ("scope_value", "state", "opened_at", "escalated_at", "resolved_at", "last_value", "threshold", "no_data")
    readonly_fields = fields
    ordering = ("-opened_at",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Monitor | None = None) -> bool:
        return False


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin[Monitor]):
    list_display = ("name", "project", "metric", "scope", "scope_value", "window_minutes", "comparison", "warning",
                    "critical", "muted_until", "enabled", "last_evaluated_at")  # fmt: skip
    list_filter = ("project", "metric", "enabled")
    search_fields = ("name", "scope_value")
    filter_horizontal = ("destinations",)  # delivery only uses the monitor's own project's
    readonly_fields = ("last_evaluated_at", "last_values")
    inlines = (MonitorIncidentInline,)

    def save_model(self, request: HttpRequest, obj: Monitor, form: Any, change: bool) -> None:
        monitor_services.monitor_save(obj)  # closes its incidents when what it watches changed

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        outbox.alerts_recheck(form.instance.alerts.all())  # those waiting for a destination may have one now
