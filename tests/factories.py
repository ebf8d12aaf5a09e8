"""Small typed builders for test data."""

from __future__ import annotations

from django.contrib.auth.models import User

from tenancy import services
from tenancy.models import Membership, Organization, Project


def make_project(
    name: str = "Acme agents", *, org_slug: str = "acme", timezone_name: str = "UTC"
) -> tuple[Project, str]:
    """A project and its raw ingest key."""
    project, new_key = services.project_create(name, org_slug=org_slug, timezone_name=timezone_name)
    return project, new_key.raw_key


def make_user(
    username: str,
    *,
    organization: Organization | None = None,
    role: str = Membership.Role.VIEWER,
) -> User:
    user = User.objects.create_user(username, password="correct horse battery staple")
    if organization is not None:
        Membership.objects.create(organization=organization, user=user, role=role)
    return user
