"""Scores in the Django admin: browse and correct them (each stays unique per author).
Evaluators are configured here too, and their evaluations browsed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest

from scores.evaluators import selectors as evaluator_selectors
from scores.evaluators import services as evaluator_services
from scores.models import Evaluation, Evaluator, Score


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin[Score]):
    list_display = ["name", "value", "label", "data_type", "source", "author", "trace_id", "project", "created_at"]
    list_filter = ["source", "data_type", "project", "name"]
    search_fields = ["name", "trace_id", "author", "label"]
    list_select_related = ["project__organization"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"


def _usd(amount: Decimal) -> str:
    """Judge calls cost fractions of a cent: every significant digit, no exponent."""
    return f"${amount.normalize():f}"


class EvaluatorForm(forms.ModelForm[Evaluator]):
    """The judge's API key is write-only: never rendered back; left empty on change, it is kept."""

    api_key = forms.CharField(
        label="API key",
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 60, "autocomplete": "off"}),
        help_text="the judge endpoint's key. Stored but never shown again; leave empty to keep the current one. "
        "With no key, AGENTLEDGER_JUDGE_API_KEY is used, and only when the base URL is empty.",
    )
    remove_api_key = forms.BooleanField(required=False, help_text="forget the stored key")
    base_url = forms.URLField(
        label="base URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=Evaluator._meta.get_field("base_url").help_text,
    )

    class Meta:
        model = Evaluator
        fields = (
            "project", "name", "enabled", "agent_name", "run_status", "sample_rate", "min_run_cost_usd",
            "rubric", "verdict_type", "score_name", "judge_model", "base_url", "api_key", "daily_cap_usd",
        )  # fmt: skip

    def clean_api_key(self) -> str:
        value: str = self.cleaned_data.get("api_key") or ""
        if self.data.get("remove_api_key"):
            return ""
        return value or (self.instance.api_key if self.instance.pk else "")

    def clean_base_url(self) -> str:
        value: str = self.cleaned_data.get("base_url") or ""
        if value and not evaluator_services.host_allowed(value):
            raise forms.ValidationError("this host is not in AGENTLEDGER_JUDGE_ALLOWED_HOSTS")
        return value


@admin.register(Evaluator)
class EvaluatorAdmin(admin.ModelAdmin[Evaluator]):
    form = EvaluatorForm
    list_display = (
        "name", "project", "agent_label", "sample_rate", "verdict_type", "judge_model", "spend_today", "daily_cap_usd",
        "done", "errors", "enabled",
    )  # fmt: skip
    list_filter = ("enabled", "verdict_type", "project")
    list_select_related = ("project__organization",)
    search_fields = ("name", "agent_name", "judge_model")
    readonly_fields = ("masked_api_key", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Evaluator]:
        return evaluator_selectors.evaluators_with_counts(super().get_queryset(request))

    @admin.display(description="agent")
    def agent_label(self, evaluator: Evaluator) -> str:
        return evaluator.agent_name or "all agents"

    @admin.display(description="judge spend today")
    def spend_today(self, evaluator: Evaluator) -> str:
        return _usd(evaluator_selectors.spend_today(evaluator))

    @admin.display(description="done", ordering="done_count")
    def done(self, evaluator: Evaluator) -> int:
        return int(getattr(evaluator, "done_count", 0))

    @admin.display(description="errors", ordering="error_count")
    def errors(self, evaluator: Evaluator) -> int:
        return int(getattr(evaluator, "error_count", 0))

    def save_model(self, request: HttpRequest, obj: Evaluator, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not evaluator_services.judge_model_priced(obj):
            messages.warning(
                request,
                f"“{obj.judge_model}” is not in the price book: its calls are recorded as unpriced and the daily "
                "cap cannot stop them. Add a price override for it (Price overrides) to cap its spend.",
            )


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin[Evaluation]):
    """What each evaluator decided for each run, and what its judge calls cost. Read-only."""

    list_display = (
        "trace_id", "evaluator", "status", "attempts", "cost", "input_tokens", "output_tokens", "created_at",
        "finished_at", "error",
    )  # fmt: skip
    list_filter = ("status", "evaluator__project", "evaluator")
    list_select_related = ("evaluator",)
    search_fields = ("trace_id", "error")
    date_hierarchy = "created_at"

    @admin.display(description="judge cost", ordering="cost_usd")
    def cost(self, evaluation: Evaluation) -> str:
        if evaluation.cost_usd is None:
            return "unpriced" if evaluation.cost_source == "unpriced" else "—"
        return _usd(evaluation.cost_usd)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Evaluation | None = None) -> bool:
        return False
