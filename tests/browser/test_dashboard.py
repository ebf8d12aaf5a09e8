"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright against a
live server. Skipped (with the reason) where Chromium is not installed, unless
AGENTLEDGER_REQUIRE_BROWSER is set, as `.ci/run` does: then a missing browser fails.

Conditions for wait_for_function are written as arrow functions: Playwright runs a bare
expression through the page's eval, which the Content-Security-Policy forbids."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from aggregates import rollups
from tests.browser.chromium import PASSWORD, ChromiumTestCase, require_chromium
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest

require_chromium()


def midnight(days_ago: int) -> datetime:
    today = timezone.now().astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days_ago), time.min, tzinfo=UTC)


class BrowserTestCase(ChromiumTestCase):
    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        make_user("ann", organization=self.project.organization)
        self.seed()
        self.open_page()

    def seed(self):
        y = midnight(1)
        planner = agent_run(y + timedelta(hours=9), agent="planner",
                            calls=[("gpt-4o", "0.25", 1.0), ("gpt-4o", "0.15", 1.5)], tools=[("search", True, 0.4)])  # fmt: skip
        raw, fields = planner[1]
        planner[1] = (raw, dataclasses.replace(fields, input=[
            {"role": "system", "parts": [{"type": "text", "content": "You plan trips."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Plan <b>three</b> days in Lisbon"}]},
        ], output=[{"role": "assistant", "parts": [{"type": "text", "content": "Day 1: Alfama."}]}]))  # fmt: skip
        ingest(self.project, planner)
        ingest(self.project, agent_run(y + timedelta(hours=11), agent="writer", calls=[("gpt-4o", "0.07", 1.0)]))
        ingest(self.project, agent_run(midnight(3) + timedelta(hours=2), agent="planner",
               calls=[("gpt-4o", "5.00", 1.0)], failed=True))  # fmt: skip
        rollups.rollup_until_current()

    def sign_in(self):
        self.page.goto(f"{self.live_server_url}/")
        assert "/accounts/login/" in self.page.url
        self.page.get_by_label("Username").fill("ann")
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{self.live_server_url}/p/acme/acme-agents/")


class DashboardInBrowserTests(BrowserTestCase):
    def test_sign_in_shows_the_overview_with_drawn_charts(self):
        self.sign_in()
        assert self.page.get_by_test_id("kpi-runs").inner_text() == "3"
        self.page.wait_for_selector('[data-chart="cost-chart"][data-drawn="true"]')
        assert self.page.locator('[data-chart="cost-chart"] .main-svg').count() >= 1

    def test_agent_cost_yesterday_is_two_clicks_from_the_overview(self):
        self.sign_in()
        self.page.get_by_role("link", name="planner", exact=True).click()  # click 1
        self.page.wait_for_url("**/cost/?**agent=planner**")
        assert self.page.get_by_test_id("cost-total").inner_text() == "$5.40"  # 7 days
        self.page.get_by_role("link", name="Yesterday", exact=True).click()  # click 2
        self.page.wait_for_url("**since=yesterday**")
        self.page.wait_for_function("() => document.querySelector('[data-testid=cost-total]').textContent === '$0.40'")
        assert "agent=planner" in self.page.url

    def test_grouping_the_explorer_swaps_the_table_without_a_full_reload(self):
        self.sign_in()
        self.page.goto(f"{self.live_server_url}/p/acme/acme-agents/cost/?since=yesterday")
        self.page.evaluate("window.__sameDocument = true")
        self.page.get_by_role("link", name="Model", exact=True).click()
        self.page.wait_for_url("**group_by=model**")
        table = self.page.get_by_test_id("explorer-table")
        table.get_by_text("gpt-4o").wait_for()
        assert self.page.evaluate("window.__sameDocument") is True  # htmx swapped, no reload

    def test_dark_theme_toggle_persists(self):
        self.sign_in()
        self.page.get_by_role("button", name="Toggle dark theme").click()
        assert self.page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
        chosen = self.page.evaluate("document.documentElement.dataset.theme")
        self.page.reload()
        assert self.page.evaluate("document.documentElement.dataset.theme") == chosen


class RunsInBrowserTests(BrowserTestCase):
    def test_filter_the_runs_list_then_open_an_llm_span_and_read_its_prompt(self):
        self.sign_in()
        self.page.get_by_role("link", name="Runs", exact=True).click()
        self.page.wait_for_url("**/runs/")
        rows = self.page.get_by_test_id("run-row")
        assert rows.count() == 3
        self.page.get_by_label("Agent").fill("writer")
        self.page.get_by_label("Agent").dispatch_event("change")  # htmx swaps the list in place
        self.page.wait_for_url("**agent=writer**")
        self.page.wait_for_function("() => document.querySelectorAll('[data-testid=run-row]').length === 1")
        self.page.get_by_label("Agent").fill("planner")
        self.page.get_by_label("Agent").dispatch_event("change")
        self.page.wait_for_function("() => document.querySelectorAll('[data-testid=run-row]').length === 2")

        self.page.get_by_test_id("run-row").filter(has_text="$0.40").get_by_role("link").first.click()
        self.page.wait_for_url("**/runs/*/")
        tree = self.page.locator(".tree")
        root = tree.locator("details").first
        assert root.get_attribute("open") is not None
        root.locator("summary").first.click()  # collapse: the children hide
        assert root.get_attribute("open") is None
        root.locator("summary").first.click()  # expand again
        tree.get_by_role("link", name="gpt-4o").first.click()
        self.page.wait_for_url("**?span=**")
        panel = self.page.locator("#span-panel")
        panel.get_by_text("Plan <b>three</b> days in Lisbon").wait_for()  # the prompt, as text
        assert panel.get_by_text("Day 1: Alfama.").is_visible()
        assert self.page.locator("#span-panel b").count() == 0  # never rendered as HTML
