"""XSS: telemetry is written by whoever holds a project key (or by the content an agent read), so
every page that shows span content is rendered here with script payloads in every text slot a
span has, and must show them as text: no <script>, no element carrying an event handler, no
javascript: link, and the escaped payload visible so the check is not passing on an empty page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urljoin

from django.test import Client, TestCase
from django.utils import timezone

from aggregates import rollups
from budgets.delivery import outbox
from budgets.models import Alert, AnomalyRule, Budget, Destination
from tests.factories import make_project, make_user
from tests.fakes.slack_server import fake_slack
from tests.security import hostile

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(1)>"
JS_URL = "javascript:alert(1)"
PAYLOAD = f"{SCRIPT}{IMG}{SVG}"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT, LLM, TOOL = "1000000000000001", "1000000000000002", "1000000000000003"


def hostile_text(slot: str) -> str:
    return f"{slot}-{PAYLOAD}"


# Every text slot of the trace carries the payloads; the ids that become URLs start with
# javascript: as well, to catch a link built straight from them.
TEXT = {
    slot: hostile_text(slot)
    for slot in (
        "name", "agent", "tool", "model", "prompt", "completion", "reasoning", "argument", "result",
        "attribute_key", "attribute_value", "event", "exception", "status", "resource",
    )
} | {"user": f"{JS_URL}//{PAYLOAD}", "session": f"{JS_URL}//session-{PAYLOAD}"}  # fmt: skip


class Markup(HTMLParser):
    """What a browser would act on in a page: script elements, event-handler attributes,
    javascript: URLs, and the elements a payload would have created if it were not escaped."""

    URL_ATTRIBUTES = ("href", "src", "action", "formaction", "hx-get", "hx-post", "data", "xlink:href")

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._script: dict[str, str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("img", "svg", "iframe", "object", "embed"):
            self.problems.append(f"<{tag}> element {values}")
        self.problems += [f"<{tag} {name}={value!r}>" for name, value in values.items() if name.startswith("on")]
        for name in self.URL_ATTRIBUTES:
            if values.get(name, "").strip().lower().replace("\t", "").replace("\n", "").startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={values[name]!r}>")
        if tag == "script":
            self._script = values

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        script = self._script
        if script is not None and "alert(" in data and (script.get("type") != "application/json" or "</script" in data):
            self.problems.append(f"script runs {data[:80]!r}")


class XssTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.project, cls.key = make_project("Acme agents", org_slug="acme")
        cls.user = make_user("ann", organization=cls.project.organization)
        cls.base = "/p/acme/acme-agents"

    def setUp(self):
        self.client.force_login(self.user)

    def page(self, url: str, **headers: Any) -> str:
        response = self.client.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
        return response.content.decode()

    def assert_safe(self, url: str, *shown: str, **headers: Any) -> str:
        """The page renders, acts on none of the payloads, and shows each of `shown` as text (up
        to its first quote, which JSON shown in the page escapes again)."""
        html = self.page(url, **headers)
        assert Markup(html).problems == [], url
        assert "<script>alert" not in html.lower(), url
        for text in shown:
            assert _escaped(text.split('"')[0]) in html.replace("&amp;", "&"), f"{url} does not show {text!r} as text"
        return html


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SpanContentTests(XssTestCase):
    """One trace with payloads everywhere, shown on every page that reads span content."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        request = hostile.agent_trace(TRACE_ID, TEXT)
        llm = request.resource_spans[0].scope_spans[0].spans[1]
        evaluation = {  # a score whose name, label and explanation are payloads
            "gen_ai.evaluation.name": hostile_text("score"),
            "gen_ai.evaluation.score.label": hostile_text("label"),
            "gen_ai.evaluation.score.value": 0.25,
            "gen_ai.evaluation.explanation": hostile_text("explanation"),
        }
        llm.events.add(name="gen_ai.evaluation.result", attributes=hostile.key_values(evaluation))
        logs = hostile.logs(TRACE_ID, LLM, [(hostile_text("log"), {hostile_text("log_key"): PAYLOAD}, PAYLOAD)])
        client, auth = Client(), f"Bearer {cls.key}"
        for path, body in (("/v1/traces", request), ("/v1/logs", logs)):
            response = client.post(
                path, body.SerializeToString(), content_type="application/x-protobuf", HTTP_AUTHORIZATION=auth
            )
            assert response.status_code == 200, response.content
        rollups.rollup_until_current()

    def run_url(self, span: str = "") -> str:
        return f"{self.base}/runs/{TRACE_ID}/" + (f"?span={span}" if span else "")

    def test_run_page_tree_waterfall_and_llm_span_panel(self):
        self.assert_safe(
            self.run_url(LLM),
            TEXT["name"],  # the run title
            f"chat {TEXT['model']}",  # a tree row (built in Python) and the panel title
            TEXT["agent"], TEXT["user"], TEXT["session"], TEXT["resource"], TEXT["attribute_value"],
            TEXT["prompt"], TEXT["completion"], TEXT["reasoning"], TEXT["tool"], TEXT["argument"],
            TEXT["event"], hostile_text("log"), hostile_text("score"), hostile_text("label"),
            hostile_text("explanation"),
        )  # fmt: skip

    def test_run_page_tool_span_panel_with_its_error(self):
        self.assert_safe(self.run_url(TOOL), TEXT["tool"], TEXT["status"], TEXT["exception"], TEXT["result"])

    def test_run_page_root_span_panel_with_raw_attributes(self):
        html = self.assert_safe(self.run_url(ROOT), TEXT["attribute_key"], TEXT["status"])
        assert "langfuse.trace.tags" in html

    def test_span_panel_fragment_swapped_in_by_htmx(self):
        self.assert_safe(
            self.run_url(LLM), TEXT["prompt"], TEXT["completion"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="span-panel"
        )

    def test_runs_list_with_names_errors_users_sessions_and_scores(self):
        self.assert_safe(
            f"{self.base}/runs/", TEXT["name"], TEXT["agent"], TEXT["status"], TEXT["user"], TEXT["session"],
            hostile_text("score"),
        )  # fmt: skip
        self.assert_safe(f"{self.base}/runs/?q=alert", TEXT["name"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-list")

    def test_runs_list_echoes_hostile_filters_as_text(self):
        self.assert_safe(f"{self.base}/runs/?agent={IMG}&q={SCRIPT}&min_cost={IMG}", "Min cost must be")

    def test_sessions_list_and_session_page(self):
        self.assert_safe(f"{self.base}/sessions/", TEXT["session"], TEXT["user"])
        self.assert_safe(f"{self.base}/sessions/{quote(TEXT['session'])}/", TEXT["session"], TEXT["name"])

    def test_users_list_and_user_page(self):
        self.assert_safe(f"{self.base}/users/", TEXT["user"])
        self.assert_safe(f"{self.base}/users/{quote(TEXT['user'])}/", TEXT["user"], TEXT["name"])

    def test_tools_list_and_tool_page(self):
        self.assert_safe(f"{self.base}/tools/", TEXT["tool"])
        self.assert_safe(f"{self.base}/tools/{quote(TEXT['tool'])}/", TEXT["tool"])

    def test_models_page(self):
        self.assert_safe(f"{self.base}/models/", TEXT["model"])

    def test_overview(self):
        self.assert_safe(f"{self.base}/", TEXT["agent"])

    def test_cost_explorer_group_names(self):
        for group_by, shown in (
            ("agent", TEXT["agent"]),
            ("model", TEXT["model"]),
            ("user", TEXT["user"]),
            ("tool", TEXT["tool"]),
        ):
            self.assert_safe(f"{self.base}/cost/?group_by={group_by}", shown)
        self.assert_safe(f"{self.base}/cost/?group_by=model&agent={TEXT['agent']}", TEXT["model"])

    def test_scores_page(self):
        self.assert_safe(f"{self.base}/scores/", hostile_text("score"))


class AlertTests(XssTestCase):
    """Alerts name what they are about: an anomaly's agent or tool comes from span content."""

    def test_alerts_page_and_anomaly_page(self):
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        rule = AnomalyRule.objects.create(project=self.project, metric="cost", scope="agent")
        anomaly = Alert.objects.create(
            anomaly_rule=rule, metric="cost", scope_value=hostile_text("agent"), kind=Alert.Kind.ANOMALY,
            observed=Decimal("9"), expected=Decimal("1"), band_low=Decimal("0"), band_high=Decimal("2"),
            period_start=now - timedelta(hours=1), threshold=0, spend=0, amount=0, next_attempt_at=now,
            last_error=hostile_text("slack error"),
        )  # fmt: skip
        budget = Budget.objects.create(
            project=self.project, name=hostile_text("budget"), scope="user", scope_value=f"{JS_URL}//{PAYLOAD}",
            amount_usd=Decimal("10"),
        )  # fmt: skip
        Alert.objects.create(
            budget=budget, kind=Alert.Kind.THRESHOLD, period_start=now - timedelta(days=1), threshold=80,
            spend=Decimal("8.5"), amount=Decimal("10"), next_attempt_at=now,
        )  # fmt: skip
        self.assert_safe(f"{self.base}/alerts/", hostile_text("agent"), hostile_text("budget"))
        self.assert_safe(f"{self.base}/anomalies/{anomaly.pk}/", hostile_text("agent"))
        self.assert_safe(f"{self.base}/budgets/", hostile_text("budget"))


class OddNameTests(XssTestCase):
    """User, session and tool names are linked by their own pages' URLs; a name with a newline,
    dots, or URL syntax in it must still give working pages and links (a newline used to make
    every page that linked it answer 500)."""

    NAMES = ["alice\nsmith", "..", "../../admin", "?q=1#frag", "100%", "tab\there", "名前 ünï", "a/b"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        client, auth = Client(), f"Bearer {cls.key}"
        for n, name in enumerate(cls.NAMES):
            text = {slot: f"{slot}-{n}" for slot in TEXT} | {"user": name, "session": name, "tool": name}
            body = hostile.agent_trace(f"{n + 1:032x}", text).SerializeToString()
            response = client.post("/v1/traces", body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=auth)
            assert response.status_code == 200, response.content
        rollups.rollup_until_current()

    def test_every_page_linking_them_renders_and_each_link_opens_its_page(self):
        for page in (f"{self.base}/", f"{self.base}/runs/", f"{self.base}/runs/{1:032x}/"):
            self.page(page)
        for section in ("users", "sessions", "tools"):
            links = Links(self.page(f"{self.base}/{section}/"), f"{self.base}/{section}/").found
            assert len(links) == len(self.NAMES), (section, links)
            for link in links:
                assert urljoin("http://testserver/", link).startswith(f"http://testserver{self.base}/{section}/"), link
                assert self.client.get(link).status_code == 200, link


class Links(HTMLParser):
    """The distinct hrefs of a page under a prefix, without their query string."""

    def __init__(self, html: str, prefix: str) -> None:
        super().__init__(convert_charrefs=True)
        self.prefix = prefix
        self.found: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith(self.prefix) and href != self.prefix:
            self.found.add(href.split("?")[0])


class SlackMessageTests(XssTestCase):
    """Alerts reach Slack too, whose mrkdwn turns <…> into links and mentions: an agent named
    "<!channel>" must not ping the channel, nor one named "<https://…|…>" show a disguised link."""

    def test_an_anomaly_about_a_hostile_agent_reaches_slack_as_text(self):
        agent = "<!channel> <https://evil.example/login|Open AgentLedger> & co"
        rule = AnomalyRule.objects.create(project=self.project, metric="cost", scope="agent")
        now = timezone.now()
        alert = Alert.objects.create(
            anomaly_rule=rule, metric="cost", scope_value=agent, kind=Alert.Kind.ANOMALY, observed=Decimal("9"),
            expected=Decimal("1"), band_low=Decimal("0"), band_high=Decimal("2"), period_start=now - timedelta(hours=1),
            threshold=0, spend=0, amount=0, next_attempt_at=now,
        )  # fmt: skip
        with fake_slack() as slack:
            Destination.objects.create(project=self.project, name="ops", url=slack.url())
            assert outbox.send_alert(alert.pk)
        message = slack.received[0].json
        mrkdwn = [message["text"]] + [
            field["text"]
            for block in message["blocks"]
            for field in block.get("fields", [])
            if field["type"] == "mrkdwn"
        ]
        assert any("&lt;!channel&gt; &lt;https://evil.example/login|Open AgentLedger&gt; &amp; co" in t for t in mrkdwn)
        assert not any("<!channel>" in t or "<https://evil" in t for t in mrkdwn)
