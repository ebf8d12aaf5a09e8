"""Security headers on every kind of response, and pages that a strict Content-Security-Policy
leaves working: no inline script or event handler anywhere in what the dashboard renders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.test import TestCase, override_settings

from aggregates import rollups
from ingest.models import Run
from tenancy.models import Membership
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest
from tests.security.html_scan import PageScan

BASE = "/p/acme/acme-agents"


def csp(response) -> dict[str, list[str]]:
    """The policy as {directive: sources}."""
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


class SecurityHeaderTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.project, cls.key = make_project("Acme agents", org_slug="acme")
        cls.user = make_user("ann", organization=cls.project.organization, role=Membership.Role.EDITOR)
        cls.admin = User.objects.create_superuser("root", "", "correct horse battery staple")
        start = datetime.now(UTC) - timedelta(hours=2)
        ingest(cls.project, agent_run(start, calls=[("gpt-4o", "0.25", 1.0)], tools=[("search", False, 0.4)]))
        rollups.rollup_until_current()
        cls.trace_id = Run.objects.get().trace_id

    def pages(self) -> list[str]:
        """Every page of the dashboard a signed-in user opens, with data on it."""
        return [
            f"{BASE}/",
            f"{BASE}/cost/",
            f"{BASE}/runs/",
            f"{BASE}/runs/{self.trace_id}/",
            f"{BASE}/sessions/",
            f"{BASE}/users/",
            f"{BASE}/tools/",
            f"{BASE}/tools/search/",
            f"{BASE}/models/",
            f"{BASE}/scores/",
            f"{BASE}/budgets/",
            f"{BASE}/alerts/",
            "/account/",
        ]


class ContentSecurityPolicyTests(SecurityHeaderTestCase):
    def test_pages_allow_only_our_own_script_files(self):
        self.client.force_login(self.user)
        for page in self.pages():
            response = self.client.get(page)
            assert response.status_code == 200, page
            policy = csp(response)
            assert policy["script-src"] == ["'self'"], page  # no 'unsafe-inline', no 'unsafe-eval'
            assert policy["default-src"] == ["'self'"]
            assert policy["object-src"] == ["'none'"]
            assert policy["frame-ancestors"] == ["'none'"]
            assert "'unsafe-inline'" not in policy["style-src"], "<style> elements stay blocked"

    def test_no_page_carries_inline_script_or_event_handlers(self):
        self.client.force_login(self.user)
        for page in [*self.pages(), f"{BASE}/runs/{self.trace_id}/?span=x"]:
            scan = PageScan(self.client.get(page).content.decode())
            assert scan.inline_code == [], page
            assert scan.handlers == [], page
            assert all("src" in s or s.get("type") == "application/json" for s in scan.scripts), page

    def test_chart_data_travels_as_json_not_code(self):
        self.client.force_login(self.user)
        scan = PageScan(self.client.get(f"{BASE}/").content.decode())
        data = [s for s in scan.scripts if s.get("type") == "application/json"]
        assert data, "the overview's charts read their figures from json_script"

    def test_htmx_is_configured_to_add_no_style_and_evaluate_no_code(self):
        scan = PageScan(self.client.get("/accounts/login/").content.decode())
        assert json.loads(scan.meta["htmx-config"]) == {
            "includeIndicatorStyles": False,
            "allowEval": False,
            "allowScriptTags": False,
        }

    def test_sign_in_admin_and_api_responses_carry_the_policy_too(self):
        assert csp(self.client.get("/accounts/login/"))["script-src"] == ["'self'"]
        assert csp(self.client.get("/v1/traces"))["script-src"] == ["'self'"]  # 405 from the intake
        assert csp(self.client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {self.key}"))["script-src"] == ["'self'"]
        self.client.force_login(self.admin)
        for page in ("/admin/", "/admin/budgets/budget/add/", "/admin/tenancy/project/"):
            response = self.client.get(page)
            assert response.status_code == 200, page
            assert csp(response)["script-src"] == ["'self'"], page
            assert PageScan(response.content.decode()).inline_code == [], page

    def test_api_docs_load_swagger_from_its_cdn_but_run_no_inline_script(self):
        response = self.client.get("/api/docs/")
        policy = csp(response)
        assert policy["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]
        assert policy["frame-ancestors"] == ["'none'"]
        scan = PageScan(response.content.decode())
        assert scan.inline_code == []
        start_up = [s["src"] for s in scan.scripts if s["src"].startswith("/api/docs/")]
        assert start_up, "Swagger's start-up code is a script file of ours"
        script = self.client.get(start_up[0])
        assert script.status_code == 200
        assert script["Content-Type"].startswith("application/javascript")
        assert "SwaggerUIBundle" in script.content.decode()


class OtherHeaderTests(SecurityHeaderTestCase):
    def test_every_response_forbids_framing_sniffing_and_leaking_urls(self):
        self.client.force_login(self.user)
        for page in (f"{BASE}/", f"{BASE}/runs/{self.trace_id}/", "/api/v1/runs?project=1", "/healthz"):
            response = self.client.get(page)
            assert response["X-Frame-Options"] == "DENY", page
            assert response["X-Content-Type-Options"] == "nosniff", page
            assert response["Referrer-Policy"] == "same-origin", page
            assert response["Cross-Origin-Opener-Policy"] == "same-origin", page

    def test_session_and_csrf_cookies_are_not_readable_by_other_sites(self):
        response = self.client.post("/accounts/login/", {"username": "ann", "password": "correct horse battery staple"})
        session = response.cookies["sessionid"]
        assert session["httponly"] is True
        assert session["samesite"] == "Lax"


class DebugPageTests(TestCase):
    def test_with_debug_on_error_pages_stay_readable(self):
        """Django's debug pages style and script themselves inline: no policy on them."""
        with override_settings(DEBUG=True):
            client = self.client_class()
            missing = client.get("/no-such-page/")
            page = client.get("/accounts/login/")
        assert missing.status_code == 404
        assert "Content-Security-Policy" not in missing
        assert "Content-Security-Policy" in page


class NulParameterTests(TestCase):
    def test_a_nul_in_a_query_parameter_is_a_clear_400_not_a_server_error(self):
        _, key = make_project()
        api = self.client.get("/api/v1/budgets/check", {"agent": "\x00"}, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert api.status_code == 400 and "NUL" in api.json()["error"]
        page = self.client.get("/p/acme/acme-agents/runs/", {"agent": "bot\x00"})
        assert page.status_code == 400
