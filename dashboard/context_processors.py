"""Template context for every page: the projects the signed-in user can switch to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tenancy import selectors as tenancy_selectors


def switchable_projects(request: HttpRequest) -> dict[str, Any]:
    # Lazy: only pages that show the switcher run the query.
    return {"switchable_projects": SimpleLazyObject(lambda: list(tenancy_selectors.projects_for_user(request.user)))}
