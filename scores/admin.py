"""Scores in the Django admin: browse and correct them (each stays unique per author)."""

from __future__ import annotations

from django.contrib import admin

from scores.models import Score


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin[Score]):
    list_display = ["name", "value", "label", "data_type", "source", "author", "trace_id", "project", "created_at"]
    list_filter = ["source", "data_type", "project", "name"]
    search_fields = ["name", "trace_id", "author", "label"]
    list_select_related = ["project__organization"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"
