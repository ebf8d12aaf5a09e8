"""The admin's destination form in a real browser: choosing a kind shows that kind's settings
only (static/js/destination_kind.js, allowed by the Content-Security-Policy as our own file)."""

from __future__ import annotations

from django.contrib.auth.models import User

from budgets.models import Destination
from tests.browser.chromium import PASSWORD, ChromiumTestCase, require_chromium
from tests.factories import make_project

require_chromium()

SECTIONS = ("Slack or webhook", "Webhook signature", "PagerDuty", "E-mail")


class DestinationFormInBrowserTests(ChromiumTestCase):
    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        User.objects.create_superuser("root", password=PASSWORD)
        page = self.open_page()
        self.errors: list[str] = []
        page.on("console", self.record_error)
        page.goto(f"{self.live_server_url}/admin/login/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{self.live_server_url}/admin/")

    def record_error(self, message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(message.text)

    def visible_sections(self) -> list[str]:
        """The kind sections shown, by their headings."""
        return [name for name in SECTIONS if self.page.locator(f"fieldset:has(> h2:text-is('{name}'))").is_visible()]

    def test_each_kind_shows_its_own_settings_and_saves(self):
        self.page.goto(f"{self.live_server_url}/admin/budgets/destination/add/")
        assert self.visible_sections() == ["Slack or webhook"]  # Slack, the default
        for kind, sections in [
            ("webhook", ["Slack or webhook", "Webhook signature"]),
            ("pagerduty", ["PagerDuty"]),
            ("email", ["E-mail"]),
        ]:
            self.page.select_option("#id_kind", kind)
            assert self.visible_sections() == sections, kind
        self.page.select_option("#id_project", str(self.project.pk))
        self.page.fill("#id_name", "finance")
        self.page.fill("#id_to", "ops@example.com")
        self.page.get_by_role("button", name="Save", exact=True).click()
        self.page.wait_for_url(f"{self.live_server_url}/admin/budgets/destination/")
        assert Destination.objects.get().to == "ops@example.com"
        assert self.errors == []
