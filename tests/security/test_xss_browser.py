"""XSS in a real browser: a run whose every text slot holds script payloads is opened in Debian's
headless Chromium (Playwright, as tests/browser/test_dashboard.py) and no payload runs: no dialog
opens while the run page, its htmx-swapped span panels and the charted pages are shown. Skipped
where Chromium is missing, unless AGENTLEDGER_REQUIRE_BROWSER is set."""

from __future__ import annotations

from django.conf import settings
from django.test import Client

from aggregates import rollups
from tests.browser.chromium import ChromiumTestCase, require_chromium
from tests.factories import make_project, make_user
from tests.security import hostile
from tests.security.test_xss import LLM, PAYLOAD, TEXT, TOOL, TRACE_ID

require_chromium()


class HostileRunInBrowserTests(ChromiumTestCase):
    def setUp(self):
        project, key = make_project("Acme agents", org_slug="acme")
        user = make_user("ann", organization=project.organization)
        client = Client()
        for path, body in (
            ("/v1/traces", hostile.agent_trace(TRACE_ID, TEXT)),
            ("/v1/logs", hostile.logs(TRACE_ID, LLM, [(f"log-{PAYLOAD}", {"k": PAYLOAD}, PAYLOAD)])),
        ):
            response = client.post(
                path,
                body.SerializeToString(),
                content_type="application/x-protobuf",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
            assert response.status_code == 200, response.content
        rollups.rollup_until_current()
        client.force_login(user)  # the browser takes this session: no dependence on the sign-in page
        self.open_page()
        self.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": self.live_server_url,
                }
            ]
        )
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.base = f"{self.live_server_url}/p/acme/acme-agents"

    def test_opening_the_run_and_its_spans_runs_no_payload(self):
        self.page.goto(f"{self.base}/runs/{TRACE_ID}/?span={LLM}")
        panel = self.page.locator("#span-panel")
        panel.get_by_text(f"prompt-{PAYLOAD}").wait_for()  # shown as text
        self.page.locator(".tree").get_by_role("link", name=TEXT["tool"], exact=True).click()  # htmx swap
        self.page.wait_for_url(f"**?span={TOOL}")
        panel.get_by_text(f"exception-{PAYLOAD}").first.wait_for()
        for details in panel.locator("details").all():  # open the folded parts: raw attributes, logs, events
            details.evaluate("element => { element.open = true }")
        self.page.wait_for_timeout(200)
        assert self.dialogs == []
        assert self.page.evaluate("document.querySelectorAll('img, svg script, iframe').length") == 0

    def test_the_charted_pages_run_no_payload(self):
        for path in ("/", "/runs/", "/cost/?group_by=agent", "/cost/?group_by=tool", "/tools/", "/users/", "/models/"):
            self.page.goto(f"{self.base}{path}")
            self.page.wait_for_load_state("networkidle")
            self.page.wait_for_function(  # plotly has drawn the group names as labels
                "[...document.querySelectorAll('[data-chart]')].every(chart => chart.dataset.drawn === 'true')"
            )
        assert self.dialogs == []
