from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.views import account, anomalies, budgets, cost, entities, overview, quality, runs, scores

project_pages = [
    path("", overview.overview, name="overview"),
    path("cost/", cost.cost, name="cost"),
    path("cost.csv", cost.cost_csv, name="cost_csv"),
    path("runs/", runs.runs, name="runs"),
    path("runs/<str:trace_id>/", runs.run_detail, name="run"),
    path("runs/<str:trace_id>/scores", scores.run_scores, name="run_scores"),
    path("sessions/", entities.sessions, name="sessions"),
    path("sessions/<path:session_id>/", entities.session, name="session"),
    path("users/", entities.users, name="users"),
    path("users/<path:user_id>/", entities.user, name="user"),
    path("tools/", entities.tools, name="tools"),
    path("tools/<path:tool_name>/", entities.tool, name="tool"),
    path("models/", entities.models, name="models"),
    path("scores/", quality.scores, name="scores"),
    path("budgets/", budgets.budgets, name="budgets"),
    path("alerts/", budgets.alerts, name="alerts"),
    path("anomalies/<int:alert_id>/", anomalies.anomaly, name="anomaly"),
]

urlpatterns = [
    path("", account.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", account.account, name="account"),
    path("p/<slug:org>/<slug:slug>/", include(project_pages)),
]
