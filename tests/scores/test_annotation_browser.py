"""Rating a run in a real browser (headless Chromium, Playwright, live server): the thumbs down
and its comment go through htmx (CSRF header from base.html) and appear in the Scores panel
without a page reload. Skipped where Chromium is not installed, as tests/browser is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregates import rollups
from scores.models import Score
from tenancy.models import Membership
from tests.browser.chromium import PASSWORD, ChromiumTestCase, require_chromium
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest

require_chromium()


class AnnotationInBrowserTests(ChromiumTestCase):
    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        make_user("erin", organization=self.project.organization, role=Membership.Role.EDITOR)
        items = agent_run(datetime.now(UTC) - timedelta(minutes=5), agent="support-bot")
        ingest(self.project, items)
        self.trace_id = items[0][0].trace_id
        self.open_page()

    def test_thumbs_down_with_a_comment_appears_on_the_run_without_a_reload(self):
        page = self.page
        page.goto(f"{self.live_server_url}/accounts/login/")
        page.get_by_label("Username").fill("erin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/p/acme/acme-agents/")
        page.goto(f"{self.live_server_url}/p/acme/acme-agents/runs/{self.trace_id}/")
        page.evaluate("window.notReloaded = true")

        panel = page.locator("#scores-panel")
        panel.get_by_placeholder("Comment (optional)").fill("Quoted a 14-day refund window; it is 30 days")
        panel.get_by_role("button", name="Thumbs down").click()

        panel.get_by_test_id("score").filter(has_text="thumbs down").wait_for()
        row = panel.get_by_test_id("score").first.inner_text()
        assert "Quoted a 14-day refund window; it is 30 days" in row
        assert "erin" in row
        assert page.evaluate("window.notReloaded") is True, "htmx swapped the panel in place"
        assert Score.objects.get(project=self.project).value == 0.0

        # The rollup pass brings it into the agent's pass rate (overview) and the Scores page.
        rollups.rollup_until_current()
        page.goto(f"{self.live_server_url}/p/acme/acme-agents/?since=7d")
        assert page.get_by_test_id("agent-pass-rate").inner_text() == "0.0%"
        page.get_by_test_id("agent-pass-rate").get_by_role("link").click()
        page.wait_for_url("**/scores/**")
        assert page.get_by_test_id("pass-rate").first.inner_text() == "0.0%"
        assert "Quoted a 14-day refund window" in page.get_by_test_id("lowest-runs").inner_text()
