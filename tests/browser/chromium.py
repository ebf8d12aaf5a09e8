"""The browser harness every Playwright test shares: Debian's headless Chromium against a live
server. `require_chromium()` at the top of a test module skips it (with the reason) where
Chromium is not installed, unless AGENTLEDGER_REQUIRE_BROWSER is set, as `.ci/run` does: then
a missing browser fails."""

from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.staticfiles.testing import StaticLiveServerTestCase

CHROMIUM = os.environ.get("AGENTLEDGER_CHROMIUM", "/usr/bin/chromium")
# Chromium's own phone-home connections are refused on closed networks; keep it quiet and fast.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"  # tests.factories.make_user's

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
# itself (fixtures, assertions) are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def require_chromium() -> None:
    """Skip the calling test module when Chromium is missing (and not required)."""
    if not shutil.which(CHROMIUM) and not os.environ.get("AGENTLEDGER_REQUIRE_BROWSER"):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


class ChromiumTestCase(StaticLiveServerTestCase):
    """One browser per test class; each test gets a fresh context and page (`open_page`)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from playwright.sync_api import sync_playwright

        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()
        super().tearDownClass()

    def open_page(self):
        """A new 1280x900 context and page, closed after the test."""
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.addCleanup(self.context.close)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        return self.page
