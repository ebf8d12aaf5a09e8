"""Reads: which projects a dashboard user may open, and with which role."""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, Model, QuerySet, Value

from tenancy.models import Membership, Project

_P = TypeVar("_P", bound=Model)


def projects_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """The projects of the user's organizations (none when signed out; every one for a
    superuser, who administers them all anyway)."""
    if not user.is_authenticated:
        return Project.objects.none()
    projects = (
        Project.objects.all()
        if getattr(user, "is_superuser", False)
        else Project.objects.filter(organization__memberships__user_id=user.pk)
    )
    return projects.select_related("organization").order_by("organization__name", "name")


def project_for_user(user: AbstractBaseUser | AnonymousUser, ref: str) -> Project | None:
    """A project of one of the user's organizations, by id or "org-slug/project-slug"."""
    if not user.is_authenticated:
        return None
    return _by_ref(projects_for_user(user), ref).first()


def project_and_role_for_user(user: AbstractBaseUser | AnonymousUser, ref: str) -> tuple[Project, str] | None:
    """`project_for_user` plus the user's Membership.Role in the project's organization ("admin"
    for a superuser), read in the same query: the role comes from the membership row that
    grants access."""
    if not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        role: Value | F = Value(Membership.Role.ADMIN)
    else:
        role = F("organization__memberships__role")
    found = _by_ref(projects_for_user(user).annotate(member_role=role), ref).first()
    if found is None:
        return None
    return found, str(getattr(found, "member_role", ""))  # (django-stubs does not see the annotation)


def _by_ref(projects: QuerySet[_P], ref: str) -> QuerySet[_P]:
    if ref.isdigit():
        return projects.filter(pk=int(ref))
    org, _, slug = ref.partition("/")
    return projects.filter(organization__slug=org, slug=slug)
