"""What every project page needs: the project (404 unless the user may see it), the time zone
pages are shown in, and the time range the query string asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, QueryDict
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from ingest import timeranges
from ingest.timeranges import TimeRange
from tenancy import selectors as tenancy_selectors
from tenancy.models import Membership, Project, UserProfile


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (for typing)."""

    htmx: HtmxDetails


RANGES = (("today", "Today"), ("yesterday", "Yesterday"), ("7d", "7 days"), ("30d", "30 days"))


@dataclass(frozen=True)
class Page:
    """The project a page shows, in which zone, over which range (as asked and as resolved)."""

    project: Project
    tz: ZoneInfo
    range: TimeRange
    since: str
    until: str
    range_error: str = ""
    role: str = ""  # the user's Membership.Role in the project's organization

    @property
    def can_edit(self) -> bool:
        """Editors and admins change things (annotate runs); viewers only look."""
        return self.role in (Membership.Role.EDITOR, Membership.Role.ADMIN)

    @property
    def previous(self) -> TimeRange:
        """The range of the same length just before this one (for "change vs previous")."""
        length = self.range.until - self.range.since
        return TimeRange(self.range.since - length, self.range.since)

    @property
    def interval(self) -> str:
        """Hourly points up to two days, daily beyond."""
        return "hour" if self.range.until - self.range.since <= timedelta(days=2) else "day"

    @property
    def range_label(self) -> str:
        named = dict(RANGES).get(self.since)
        if named and not self.until:
            return named
        return f"{self.since or 'start'} to {self.until or 'now'}"

    def context(self) -> dict[str, Any]:
        return {"page": self, "project": self.project, "ranges": RANGES}


def user_id(request: HttpRequest) -> int:
    """The signed-in user's id (views that call this require a login)."""
    return int(cast(int, request.user.pk))


def project_page(request: HttpRequest, org: str, slug: str, *, default_since: str = "7d") -> Page:
    """The page for a project the signed-in user is a member of; 404 for any other project, so
    another organization's projects and runs cannot even be confirmed to exist."""
    found = tenancy_selectors.project_and_role_for_user(request.user, f"{org}/{slug}")
    if found is None:
        raise Http404("no such project in your organizations")
    project, role = found
    profile = UserProfile.objects.filter(user_id=user_id(request)).first()
    if profile is None or profile.last_project_id != project.pk:
        UserProfile.objects.update_or_create(user_id=user_id(request), defaults={"last_project": project})
    tz = ZoneInfo(profile.timezone) if profile and profile.timezone else project.tz
    since, until = request.GET.get("since", "").strip(), request.GET.get("until", "").strip()
    error = ""
    try:
        span = timeranges.resolve(since, until, tz, timezone.now(), default_since=default_since)
    except timeranges.RangeError as exc:
        error = f"{exc.param}: {exc.message}"
        since, until = default_since, ""
        span = timeranges.resolve(since, None, tz, timezone.now())
    if span is None:  # cannot happen: a default range always resolves
        raise Http404("no time range")
    timezone.activate(tz)  # templates show times in the viewer's zone (reset by the middleware)
    return Page(project, tz, span, since or default_since, until, error, role)


def query_string(base: QueryDict | None = None, /, **changes: str | int | None) -> str:
    """A link's `?` and query string: `base` (a request's GET to keep the page's other
    parameters; none: start empty) with parameters set, or removed where the value is None. A
    parameter set moves to the end; an empty result is "?", which still clears the page's query.

        query_string(request.GET, cursor=None)
        f"{reverse('runs', args=[org, slug])}{query_string(since=page.since, user=user_id)}"
    """
    query = base.copy() if base is not None else QueryDict(mutable=True)
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = str(value)
    return f"?{query.urlencode()}"
