"""The Monitors page in a real browser: one click on a template adds the monitor and opens its
page, whose chart is drawn."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from aggregates import deltas
from tenancy.models import Membership
from tests.browser.chromium import PASSWORD, ChromiumTestCase, require_chromium
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest

require_chromium()

TEMPLATE = "Success rate below 99% over 5 minutes, each agent"


class MonitorsInBrowserTests(ChromiumTestCase):
    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        make_user("ann", organization=self.project.organization, role=Membership.Role.EDITOR)
        minute = timezone.now().replace(second=0, microsecond=0)
        for agent, failed in (("planner", True), ("writer", False)):
            ingest(self.project, agent_run(minute - timedelta(minutes=3), agent=agent, failed=failed))
        deltas.apply_pending()
        page = self.open_page()
        page.goto(f"{self.live_server_url}/")
        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.live_server_url}/p/acme/acme-agents/")

    def test_a_template_click_opens_the_new_monitor_with_its_chart(self):
        self.page.get_by_role("link", name="Monitors", exact=True).click()
        self.page.wait_for_url("**/monitors/")
        self.page.get_by_role("button", name=TEMPLATE).click()
        self.page.wait_for_url("**/monitors/*/")
        assert self.page.get_by_role("heading", level=1).inner_text() == TEMPLATE
        self.page.wait_for_selector('[data-chart="monitor-chart"][data-drawn="true"]')
        names = self.page.evaluate("() => document.querySelector('[data-chart=monitor-chart]').data.map(t => t.name)")
        assert {"planner", "writer", "critical: above 1%"} <= set(names)
        assert self.page.locator('[data-chart="monitor-chart"] .main-svg').count() >= 1
