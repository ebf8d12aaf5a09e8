"""Writes: organizations, projects and their API keys."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from tenancy import keys
from tenancy.models import ApiKey, Organization, Project

DEFAULT_ORG_SLUG = "default"


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def organization_get_or_create(*, slug: str = DEFAULT_ORG_SLUG, name: str = "") -> Organization:
    org, _ = Organization.objects.get_or_create(
        slug=slugify(slug) or DEFAULT_ORG_SLUG,
        defaults={"name": name or slug.replace("-", " ").title()},
    )
    return org


def api_key_create(project: Project, *, name: str = "default") -> NewKey:
    raw = keys.generate_key()
    api_key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=keys.key_prefix(raw),
        key_hash=keys.hash_key(raw),
    )
    return NewKey(api_key=api_key, raw_key=raw)


def api_key_revoke(api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now())


def api_key_mark_used(api_key: ApiKey) -> None:
    """Record use at most once a minute, so a busy exporter does not write on every request."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def project_create(
    name: str, *, org_slug: str = DEFAULT_ORG_SLUG, timezone_name: str = "UTC"
) -> tuple[Project, NewKey]:
    """Create a project (and its organization when needed) with a first ingest key."""
    org = organization_get_or_create(slug=org_slug)
    base = slugify(name) or "project"
    slug, n = base, 1
    while Project.objects.filter(organization=org, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    project = Project(organization=org, name=name, slug=slug, timezone=timezone_name)
    project.full_clean()
    project.save()
    return project, api_key_create(project, name="default")
