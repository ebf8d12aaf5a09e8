"""Under the Content-Security-Policy, in Debian's Chromium: charts draw, htmx swaps, the theme
toggle works, the admin's scripts run and its forms save, and the browser reports no violation.
Skipped like tests/browser (the reason is printed) where Chromium is missing."""

from __future__ import annotations

import base64
import hashlib

from django.contrib.auth.models import User

from budgets.models import Budget
from tests.browser.chromium import PASSWORD, require_chromium
from tests.browser.test_dashboard import BrowserTestCase

require_chromium()

# Recorded from the first script of every page, before any of ours runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


class CspInBrowserTestCase(BrowserTestCase):
    def setUp(self):
        super().setUp()
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.console_errors = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))

    def open(self, path):
        response = self.page.goto(f"{self.live_server_url}{path}")
        assert "script-src 'self';" in response.headers["content-security-policy"], path
        return response

    def assert_no_violations(self):
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], f"{violations}; hashes of the page's <style> elements: {self.style_hashes()}"
        assert [m for m in self.console_errors if "Content Security Policy" in m] == []

    def style_hashes(self):
        """What SECURE_CSP's style-src would need, e.g. after a plotly.js upgrade."""
        texts = self.page.evaluate("Array.from(document.querySelectorAll('style'), s => s.textContent)")
        return [f"'sha256-{base64.b64encode(hashlib.sha256(t.encode()).digest()).decode()}'" for t in texts]


class DashboardUnderCspTests(CspInBrowserTestCase):
    def test_charts_draw_and_htmx_swaps_with_no_violation(self):
        self.sign_in()
        self.page.wait_for_selector('[data-chart="cost-chart"][data-drawn="true"]')
        assert self.page.locator('[data-chart="cost-chart"] .main-svg').count() >= 1
        self.assert_no_violations()

        for path, chart in (("cost/", None), ("models/", "models-cost-chart"), ("tools/", "tools-chart-data")):
            self.open(f"/p/acme/acme-agents/{path}")
            if chart:
                self.page.wait_for_selector(f'[data-chart="{chart}"][data-drawn="true"]')
            self.assert_no_violations()

        self.open("/p/acme/acme-agents/cost/?since=yesterday")
        self.page.evaluate("window.__sameDocument = true")
        self.page.get_by_role("link", name="Model", exact=True).click()
        self.page.get_by_test_id("explorer-table").get_by_text("gpt-4o").wait_for()
        assert self.page.evaluate("window.__sameDocument") is True, "htmx swapped the table in place"
        self.assert_no_violations()

    def test_the_run_page_and_its_span_panel(self):
        self.sign_in()
        self.open("/p/acme/acme-agents/runs/")
        self.page.get_by_test_id("run-row").filter(has_text="$0.40").get_by_role("link").first.click()
        self.page.wait_for_url("**/runs/*/")
        self.page.locator(".tree").get_by_role("link", name="gpt-4o").first.click()
        self.page.locator("#span-panel").get_by_text("Day 1: Alfama.").wait_for()
        self.assert_no_violations()

    def test_script_injected_into_a_page_does_not_run(self):
        self.sign_in()
        self.page.evaluate(
            """() => {
              const s = document.createElement("script");
              s.textContent = "window.__injected = true";
              document.body.append(s);
              const img = document.createElement("img");
              img.setAttribute("onerror", "window.__injected = true");
              img.src = "/no-such-image";
              document.body.append(img);
            }"""
        )
        self.page.wait_for_function("() => window.__cspViolations.length >= 2")
        assert self.page.evaluate("window.__injected") is None
        assert all(v.startswith("script-src") for v in self.page.evaluate("window.__cspViolations"))

    def test_the_theme_toggle_redraws_charts(self):
        self.sign_in()
        self.page.wait_for_selector('[data-chart="cost-chart"][data-drawn="true"]')
        self.page.get_by_role("button", name="Toggle dark theme").click()
        assert self.page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
        self.assert_no_violations()


class AdminUnderCspTests(CspInBrowserTestCase):
    def test_the_admin_signs_in_runs_its_scripts_and_saves_a_budget(self):
        User.objects.create_superuser("root", "", PASSWORD)
        self.open("/admin/login/?next=/admin/")
        self.page.get_by_label("Username").fill("root")
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(f"{self.live_server_url}/admin/")

        self.open("/admin/budgets/budget/add/")
        assert self.page.evaluate("typeof window.django === 'object' && typeof django.jQuery === 'function'")
        self.page.get_by_label("Project").select_option(label=str(self.project))
        self.page.get_by_label("Name").fill("Monthly cap")
        self.page.get_by_label("Amount (USD)").fill("50")
        self.page.get_by_role("button", name="Save", exact=True).click()
        self.page.get_by_text("was added successfully").wait_for()
        assert Budget.objects.filter(name="Monthly cap", project=self.project).exists()
        self.assert_no_violations()
