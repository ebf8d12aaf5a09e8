"""Tenancy: organizations and their members, projects (with their intake settings), project API
keys and dashboard users' profiles.

Moved here from `ingest` with state-only migrations: the tables keep their `ingest_*` names, so
no data moved (tenancy/migrations/0001_initial.py)."""

from __future__ import annotations

import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
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

    class Meta:
        db_table = "ingest_organization"

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
        db_table = "ingest_membership"
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
        db_table = "ingest_project"
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

    class Meta:
        db_table = "ingest_apikey"

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

    class Meta:
        db_table = "ingest_userprofile"

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone or 'project time zone'})"
