from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from pricing import overrides
from pricing.models import PriceOverride


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin[PriceOverride]):
    list_display = ["model_pattern", "provider", "project", "effective_from", "input_per_mtok", "output_per_mtok"]
    list_filter = ["project"]
    search_fields = ["model_pattern"]
    actions = ["reprice_now"]

    def save_model(self, request: HttpRequest, obj: PriceOverride, form: Any, change: bool) -> None:
        previous = form.initial.get("effective_from") if change else None
        overrides.price_override_save(obj, previous_start=previous)
        self.message_user(request, "Saved. Spans from its start date on are being repriced in the background.")

    def delete_model(self, request: HttpRequest, obj: PriceOverride) -> None:
        overrides.price_override_delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PriceOverride]) -> None:
        for override in queryset:
            overrides.price_override_delete(override)

    @admin.action(description="Reprice the spans these overrides cover, now")
    def reprice_now(self, request: HttpRequest, queryset: QuerySet[PriceOverride]) -> None:
        changed = 0
        for override in queryset:
            results = overrides.reprice(override.project_id, override.effective_from, wait=True)
            changed += sum(getattr(result, "spans_changed", 0) for result in results)
        self.message_user(request, f"Repriced: {changed} span(s) changed.")
