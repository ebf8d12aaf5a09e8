from __future__ import annotations

from urllib.parse import unquote

from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from django.urls.converters import PathConverter

from dashboard.views import (
    account,
    anomalies,
    budgets,
    cost,
    diagnostics,
    entities,
    monitors,
    overview,
    run_scores,
    runs,
    scores,
)
from tenancy import signin


class NameConverter(PathConverter):
    """A user, session or tool name as one path segment. The names are whatever spans sent, so:
    - a newline is allowed (with <path:>, whose "." stops at one, {% url %} raised NoReverseMatch
      and every page linking such a name answered 500);
    - "/" and "%" are escaped (then escaped again by reverse()) and a name of "." or ".." spelt
      %2E, so "../../admin" links to that user's page, not to another page of the site.
    Links written by hand with a raw "/" in the name still resolve."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        escaped = str(value).replace("%", "%25").replace("/", "%2F")
        return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


register_converter(NameConverter, "name")

project_pages = [
    path("", overview.overview, name="overview"),
    path("cost/", cost.cost, name="cost"),
    path("cost.csv", cost.cost_csv, name="cost_csv"),
    path("runs/", runs.runs, name="runs"),
    path("runs/<str:trace_id>/", runs.run_detail, name="run"),
    path("runs/<str:trace_id>/scores", run_scores.run_scores, name="run_scores"),
    path("sessions/", entities.sessions, name="sessions"),
    path("sessions/<name:session_id>/", entities.session, name="session"),
    path("users/", entities.users, name="users"),
    path("users/<name:user_id>/", entities.user, name="user"),
    path("tools/", entities.tools, name="tools"),
    path("tools/<name:tool_name>/", entities.tool, name="tool"),
    path("models/", entities.models, name="models"),
    path("scores/", scores.scores, name="scores"),
    path("budgets/", budgets.budgets, name="budgets"),
    path("alerts/", budgets.alerts, name="alerts"),
    path("anomalies/<int:alert_id>/", anomalies.anomaly, name="anomaly"),
    path("monitors/", monitors.monitors, name="monitors"),
    path("monitors/new", monitors.monitor_from_template, name="monitor_from_template"),
    path("monitors/<int:monitor_id>/", monitors.monitor, name="monitor"),
    path("diagnostics/", diagnostics.diagnostics, name="diagnostics"),
]

urlpatterns = [
    path("", account.home, name="home"),
    path("accounts/login/", signin.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", account.account, name="account"),
    path("p/<slug:org>/<slug:slug>/", include(project_pages)),
]
