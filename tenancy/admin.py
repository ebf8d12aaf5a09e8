from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tenancy import services
from tenancy.models import ApiKey, Membership, Organization, Project


class MembershipInline(admin.TabularInline[Membership, Organization]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organization", "role"]
    list_filter = ["role", "organization"]
    autocomplete_fields = ["user", "organization"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["name", "organization", "slug", "timezone", "redact_secrets", "redact_pii", "created_at"]
    list_filter = ["organization", "redact_secrets", "redact_pii"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = [
        "name",
        "prefix",
        "project",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["project", ("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = ["project", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: object, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new key is generated here and its value shown exactly once.
        new = services.api_key_create(obj.project, name=obj.name)
        obj.pk, obj.prefix, obj.key_hash = (
            new.api_key.pk,
            new.api_key.prefix,
            new.api_key.key_hash,
        )
        obj.created_at = new.api_key.created_at
        messages.warning(
            request,
            f"New API key (copy it now, it will not be shown again): {new.raw_key}",
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
