from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.csp import csp_override
from tenancy.signin import ThrottledAdminAuthenticationForm

# The admin's sign-in counts and refuses failed attempts like the dashboard's (tenancy/signin.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

# Swagger UI comes from its CDN and styles itself inline; its page shows only our schema (no span
# content) and still runs no inline script: the split view serves its start-up code as a file.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
api_docs = csp_override(
    {
        "default-src": ["'self'"],
        "script-src": ["'self'", SWAGGER_CDN],
        "style-src": ["'self'", "'unsafe-inline'", SWAGGER_CDN],
        "img-src": ["'self'", "data:", SWAGGER_CDN],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="schema"))

MOVED_MODELS = {
    "organization": "tenancy", "membership": "tenancy", "project": "tenancy", "apikey": "tenancy",
    "userprofile": "tenancy", "priceoverride": "pricing",
}  # fmt: skip


def moved_admin_page(request: HttpRequest, model: str, rest: str) -> HttpResponseRedirect:
    query = f"?{request.META['QUERY_STRING']}" if request.META.get("QUERY_STRING") else ""
    return HttpResponseRedirect(f"/admin/{MOVED_MODELS[model]}/{model}/{rest}{query}")


def renamed_destination_admin_page(request: HttpRequest, rest: str) -> HttpResponseRedirect:
    """Slack destinations became destinations of every kind (same rows, same ids)."""
    query = f"?{request.META['QUERY_STRING']}" if request.META.get("QUERY_STRING") else ""
    return HttpResponseRedirect(f"/admin/budgets/destination/{rest}{query}")


urlpatterns = [
    path("", include("ingest.urls")),
    path("", include("pricing.urls")),
    path("", include("aggregates.urls")),
    path("", include("dashboard.urls")),
    path("", include("budgets.urls")),
    path("", include("scores.urls")),
    # Admin pages of models that moved out of the ingest app: old links and bookmarks still open.
    re_path(rf"^admin/ingest/(?P<model>{'|'.join(MOVED_MODELS)})/(?P<rest>.*)$", moved_admin_page),
    re_path(r"^admin/budgets/slackdestination/(?P<rest>.*)$", renamed_destination_admin_page),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
]
