"""Every form the dashboard and the admin render posts a CSRF token, and the same post without it
is refused with 403: a page on another site cannot sign anyone in or out, change their time zone
or rate a run on their behalf. htmx posts carry the token as a header."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.test import Client, TestCase

from ingest.models import Run
from scores.models import Score
from tenancy.models import Membership, UserProfile
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest
from tests.security.html_scan import Form, PageScan

PASSWORD = "correct horse battery staple"
TOKEN = "csrfmiddlewaretoken"


class CsrfTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.project, _ = make_project("Acme agents", org_slug="acme")
        cls.user = make_user("erin", organization=cls.project.organization, role=Membership.Role.EDITOR)
        User.objects.create_superuser("root", "", PASSWORD)
        ingest(cls.project, agent_run(datetime.now(UTC) - timedelta(minutes=5), calls=[("gpt-4o", "0.25", 1.0)]))
        cls.run_page = f"/p/acme/acme-agents/runs/{Run.objects.get().trace_id}/"

    def setUp(self):
        self.client = Client(enforce_csrf_checks=True)

    def post_forms(self, page: str) -> list[tuple[str, Form]]:
        response = self.client.get(page)
        assert response.status_code == 200, page
        return [(form.action or urlsplit(page).path, form) for form in PageScan(response.content.decode()).post_forms]

    def filled(self, form: Form, **values: str) -> dict[str, str]:
        return {**form.inputs, **values}

    def assert_refused_without_token_and_accepted_with_it(self, page: str, action: str, form: Form, **values: str):
        assert form.inputs.get(TOKEN), f"the form posting to {action} on {page} has no CSRF token"
        data = self.filled(form, **values)
        without = {k: v for k, v in data.items() if k != TOKEN}
        refused = self.client.post(action, without)
        assert refused.status_code == 403, f"{action} accepted a post without a CSRF token"
        assert b"CSRF verification failed" in refused.content
        accepted = self.client.post(action, data)
        assert accepted.status_code in (200, 302), f"{action} refused its own form ({accepted.status_code})"
        return accepted

    def test_the_sign_in_form(self):
        [(action, form)] = self.post_forms("/accounts/login/")
        accepted = self.assert_refused_without_token_and_accepted_with_it(
            "/accounts/login/", action, form, username="erin", password=PASSWORD
        )
        assert accepted.status_code == 302 and "_auth_user_id" in self.client.session

    def test_the_admin_sign_in_form(self):
        [(action, form)] = self.post_forms("/admin/login/")
        self.assert_refused_without_token_and_accepted_with_it(
            "/admin/login/", action, form, username="root", password=PASSWORD
        )
        assert self.client.get("/admin/").status_code == 200

    def test_the_time_zone_form(self):
        self.client.force_login(self.user)
        forms = dict(self.post_forms("/account/"))
        self.assert_refused_without_token_and_accepted_with_it(
            "/account/", "/account/", forms["/account/"], timezone="Europe/Paris"
        )
        assert UserProfile.objects.get(user_id=self.user.pk).timezone == "Europe/Paris"

    def test_the_run_annotation_form(self):
        self.client.force_login(self.user)
        forms = dict(self.post_forms(self.run_page))
        action = f"{self.run_page}scores"
        self.assert_refused_without_token_and_accepted_with_it(self.run_page, action, forms[action], verdict="down")
        assert Score.objects.filter(project=self.project, author="erin").count() == 1

    def test_the_sign_out_form_on_every_page(self):
        self.client.force_login(self.user)
        forms = dict(self.post_forms(self.run_page))
        self.assert_refused_without_token_and_accepted_with_it(
            self.run_page, "/accounts/logout/", forms["/accounts/logout/"]
        )
        assert "_auth_user_id" not in self.client.session

    def test_htmx_posts_send_the_token_from_the_page_as_a_header(self):
        self.client.force_login(self.user)
        scan = PageScan(self.client.get(self.run_page).content.decode())
        header = json.loads(scan.body_attrs["hx-headers"])
        action = f"{self.run_page}scores"
        htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "scores-panel"}
        assert self.client.post(action, {"verdict": "up"}, **htmx).status_code == 403
        assert (
            self.client.post(action, {"verdict": "up"}, HTTP_X_CSRFTOKEN=header["x-csrftoken"], **htmx).status_code
            == 200
        )

    def test_every_post_form_of_the_dashboard_is_covered_above(self):
        """A new form on these pages fails here until it gets a test of its own."""
        self.client.force_login(self.user)
        actions = {
            action
            for page in ("/account/", self.run_page, "/p/acme/acme-agents/")
            for action, form in self.post_forms(page)
        }
        assert actions == {"/account/", "/accounts/logout/", f"{self.run_page}scores"}
