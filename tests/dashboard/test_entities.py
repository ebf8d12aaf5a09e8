"""Sessions, users, tools and models pages: the numbers they show, their htmx fragments, keyset
pages, empty states, escaping of user data, scoping to the user's organizations, and a query
count that does not grow with the rows."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aggregates import rollups
from dashboard import cursors
from dashboard.views import entities
from tenancy.models import Membership
from tests.dashboard.test_overview import DashboardTestCase
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest

BASE = "/p/acme/acme-agents"
XSS = "<script>alert(1)</script>"


def hours_ago(hours: float) -> datetime:
    return timezone.now().astimezone(UTC).replace(microsecond=0) - timedelta(hours=hours)


def message(role, text):
    return [{"role": role, "parts": [{"type": "text", "content": text}]}]


def a_run(start, *, session="", question="", answer="", error="", tool_error="", **kwargs):
    """agent_run with a session, the root's input and output, and error messages when asked."""
    items = agent_run(start, failed=bool(error) or kwargs.pop("failed", False), **kwargs)
    root = items[0][1]
    if session:
        root.session_id = session
    if question:
        root.input = message("user", question)
    if answer:
        root.output = message("assistant", answer)
    if error:
        root.error_message = error
    if tool_error:
        for _, fields in items:
            if fields.kind == "tool" and fields.is_error:
                fields.error_type = "ToolError"
                fields.error_message = tool_error
    return items


def chart_in(body, element_id):
    """The Plotly figure a fragment carries in its json_script element."""
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert found, element_id
    return json.loads(found.group(1))


def hrefs(body):
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body)]


class EntitiesTestCase(DashboardTestCase):
    def count_queries(self, url, **params):
        self.client.get(url, params)  # the first visit also records the last project opened
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url, params)
        assert response.status_code == 200
        return len(queries)


# --- Sessions ------------------------------------------------------------------------------


class SessionsTests(EntitiesTestCase):
    url = f"{BASE}/sessions/"

    def setUp(self):
        super().setUp()
        ingest(self.project, a_run(hours_ago(30), session="conv-a", user="ann", calls=[("gpt-4o", "0.10", 1.0)]))
        ingest(self.project, a_run(hours_ago(29), session="conv-a", user="ann", agent="writer",
               calls=[("gpt-4o", "0.05", 1.0)], error="boom"))  # fmt: skip
        ingest(self.project, a_run(hours_ago(5), session="Conv-B", user="bob", calls=[("gpt-4o", "0.20", 1.0)]))
        ingest(self.project, a_run(hours_ago(50), session="conv-c", user="cy", calls=[("gpt-4o", "0.01", 1.0)]))
        ingest(self.project, a_run(hours_ago(2), calls=[("gpt-4o", "9", 1.0)]))  # no session

    def test_sessions_are_listed_last_active_first_with_their_totals(self):
        response = self.client.get(self.url)
        rows = response.context["sessions"]
        assert [r.session_id for r in rows] == ["Conv-B", "conv-a", "conv-c"]
        a = rows[1]
        assert (a.runs, a.failed_runs, str(a.cost_usd.normalize())) == (2, 1, "0.15")
        assert (a.users, a.user_id, a.agents) == (1, "ann", 2)
        assert a.first_activity < a.last_activity
        body = response.content.decode()
        assert f'href="{BASE}/sessions/conv-a/"' in body
        assert f'href="{BASE}/users/ann/"' in body, "a session's one user links to their page"
        kept = self.client.get(self.url, {"since": "30d", "q": "conv-a"}).content.decode()
        assert f'href="{BASE}/sessions/conv-a/?since=30d"' in kept, "the link keeps the range, not the search"
        assert "2 agents" in body
        assert f'<a href="{BASE}/sessions/" aria-current="page">Sessions</a>' in body

    def test_runs_without_a_session_and_outside_the_range_are_left_out(self):
        ingest(self.project, a_run(hours_ago(24 * 10), session="conv-old"))
        ids = [r.session_id for r in self.client.get(self.url).context["sessions"]]
        assert "conv-old" not in ids and "" not in ids
        assert [r.session_id for r in self.client.get(self.url, {"since": "30d"}).context["sessions"]][-1] == "conv-old"

    def test_search_finds_sessions_by_part_of_their_id_ignoring_case(self):
        rows = self.client.get(self.url, {"q": "conv-b"}).context["sessions"]
        assert [r.session_id for r in rows] == ["Conv-B"]
        body = self.client.get(self.url, {"q": "nothing-like-it"}).content.decode()
        assert "No session id contains “nothing-like-it”" in body

    def test_the_search_swaps_only_the_list_and_keeps_the_range_links_in_step(self):
        page = self.client.get(self.url, {"q": "conv"}).content.decode()
        assert "<html" in page and 'id="session-list"' in page and 'hx-target="#session-list"' in page
        response = self.client.get(self.url, {"q": "conv"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="session-list")
        body = response.content.decode()
        assert "<html" not in body
        assert body.lstrip().startswith('<section id="session-list"')
        assert 'id="session-range" hx-swap-oob="true"' in body
        assert "q=conv" in body, "range links keep the search"

    def test_keyset_pages_walk_every_session_exactly_once(self):
        moment = hours_ago(3)
        for name in ("tie-1", "tie-2", "tie-3"):  # same last activity: ordered by id
            ingest(self.project, a_run(moment, session=name))
        seen, url, pages = [], self.url, 0
        with mock.patch.object(entities, "SESSIONS_PER_PAGE", 2):
            while url:
                response = self.client.get(url)
                seen += [r.session_id for r in response.context["sessions"]]
                cursor = response.context["next_cursor"]
                url = f"{self.url}?cursor={cursor}" if cursor else ""
                pages += 1
        assert seen == ["tie-3", "tie-2", "tie-1", "Conv-B", "conv-a", "conv-c"]
        assert pages == 3

    def test_the_next_page_comes_as_a_fragment_and_a_bad_cursor_starts_over(self):
        with mock.patch.object(entities, "SESSIONS_PER_PAGE", 1):
            first = self.client.get(self.url)
            cursor = first.context["next_cursor"]
            assert f'href="?cursor={cursor}"' in first.content.decode()
            second = self.client.get(
                self.url, {"cursor": cursor}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="session-list"
            )
            assert "<html" not in second.content.decode()
            assert [r.session_id for r in second.context["sessions"]] == ["conv-a"]
            for bad in ("nonsense", "e30", "WyJ4IiwgMV0"):  # junk, {}, ["x", 1]
                assert [r.session_id for r in self.client.get(self.url, {"cursor": bad}).context["sessions"]] == [
                    "Conv-B"
                ]

    def test_a_range_without_sessions_says_what_would_appear(self):
        body = self.client.get(self.url, {"since": "2001-01-01"}).content.decode()
        assert "No sessions in this range" in body
        assert "gen_ai.conversation.id" in body
        assert "No runs yet in" not in body

    def test_a_session_id_with_html_is_shown_as_text_and_its_link_works(self):
        nasty = f"{XSS}/a b?c#d"
        ingest(self.project, a_run(hours_ago(1), session=nasty, question="<b>hi</b>"))
        body = self.client.get(self.url).content.decode()
        assert XSS not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        link = next(h for h in hrefs(body) if "script" in h)
        assert link.startswith(f"{BASE}/sessions/%3Cscript%3E") and "%3Fc%23d/" in link, "? and # stay in the path"
        response = self.client.get(link)
        assert response.status_code == 200
        page = response.content.decode()
        assert response.context["session_id"] == nasty
        assert XSS not in page and "<b>hi</b>" not in page and "&lt;b&gt;hi&lt;/b&gt;" in page

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(30):
            ingest(self.project, a_run(hours_ago(1 + i), session=f"s-{i}", user=f"u-{i}", agent=f"a-{i}"))
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["sessions"]) == 33


class SessionPageTests(EntitiesTestCase):
    url = f"{BASE}/sessions/conv-a/"

    def setUp(self):
        super().setUp()
        ingest(self.project, a_run(hours_ago(3), session="conv-a", question="And in Lyon?", answer="Rain.",
               calls=[("gpt-4o", "0.05", 1.0)], error="", tools=[("weather", True, 0.2)]))  # fmt: skip
        ingest(self.project, a_run(hours_ago(5), session="conv-a", question="Weather in Paris?", answer="Sunny.",
               calls=[("gpt-4o", "0.10", 1.0)]))  # fmt: skip
        ingest(self.project, a_run(hours_ago(4), session="conv-a", question="Tomorrow?", error="model overloaded",
               calls=[("gpt-4o", "0.02", 1.0)]))  # fmt: skip

    def test_runs_read_oldest_first_with_what_was_asked_and_answered(self):
        response = self.client.get(self.url)
        turns = response.context["turns"]
        assert [t.asked for t in turns] == ["Weather in Paris?", "Tomorrow?", "And in Lyon?"]
        assert [t.answered for t in turns] == ["Sunny.", "", "Rain."]
        body = response.content.decode()
        assert "model overloaded" in body, "a failed turn shows its error instead of an answer"
        for turn in turns:
            assert f'href="{BASE}/runs/{turn.run.trace_id}/"' in body
        assert body.index("Weather in Paris?") < body.index("Tomorrow?") < body.index("And in Lyon?")

    def test_totals_add_up_the_sessions_runs_in_the_range(self):
        totals = self.client.get(self.url).context["totals"]
        assert (totals.runs, totals.runs_in_range, totals.failed_in_range) == (3, 3, 1)
        assert str(totals.cost_in_range.normalize()) == "0.17"
        body = self.client.get(self.url).content.decode()
        assert '<div class="value" data-testid="session-cost">$0.17</div>' in body
        assert "outside-range" not in body

    def test_runs_outside_the_range_are_counted_with_a_link_to_the_whole_session(self):
        old = hours_ago(24 * 12)
        ingest(self.project, a_run(old, session="conv-a", question="Hello", calls=[("gpt-4o", "1", 1.0)]))
        response = self.client.get(self.url)
        assert response.context["totals"].runs == 4
        assert len(response.context["turns"]) == 3
        body = response.content.decode()
        assert 'data-testid="outside-range"' in body
        since = old.date().isoformat()
        until = hours_ago(3).astimezone(UTC).date().isoformat()  # the session's last run
        assert f"?since={since}&amp;until={until}" in body
        whole = self.client.get(self.url, {"since": since, "until": until})
        assert [t.asked for t in whole.context["turns"]] == ["Hello", "Weather in Paris?", "Tomorrow?", "And in Lyon?"]

    def test_messages_in_other_shapes_are_summarised_as_text(self):
        assert entities.gist({"query": "  find   flights "}, answer=False) == "find flights"
        assert entities.gist({"a": 1}, answer=True) == '{"a": 1}'
        long = entities.gist("x" * 1000, answer=False)
        assert len(long) == entities.GIST_CHARS and long.endswith("…")
        history = [*message("system", "Be brief"), *message("user", "first"), *message("assistant", "one"),
                   *message("user", "second")]  # fmt: skip
        assert entities.gist(history, answer=False) == "second", "the turn's own question, not the history"
        call = [{"role": "assistant", "parts": [{"type": "tool_call", "name": "search", "arguments": {}}]}]
        assert entities.gist(call, answer=True) == "[calls search]"

    def test_an_unknown_session_is_not_found(self):
        assert self.client.get(f"{BASE}/sessions/nope/").status_code == 404

    def test_the_same_session_id_in_another_project_is_not_shown(self):
        rival, _ = make_project("Rival", org_slug="rival")
        ingest(rival, a_run(hours_ago(1), session="rival-only", question="secret"))
        assert self.client.get(f"{BASE}/sessions/rival-only/").status_code == 404
        assert self.client.get("/p/rival/rival/sessions/rival-only/").status_code == 404

    def test_the_query_count_does_not_grow_with_the_runs(self):
        one = self.count_queries(self.url)
        for i in range(20):
            ingest(self.project, a_run(hours_ago(6 + i), session="conv-a", question=f"q{i}", answer=f"a{i}"))
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["turns"]) == 23


# --- Users ---------------------------------------------------------------------------------


class UsersTestCase(EntitiesTestCase):
    def setUp(self):
        super().setUp()
        ingest(self.project, a_run(hours_ago(30), user="ann", calls=[("gpt-4o", "0.10", 1.0)]))
        ingest(self.project, a_run(hours_ago(2), user="ann", agent="writer", calls=[("gpt-4o", "0.20", 1.0)],
               failed=True))  # fmt: skip
        ingest(self.project, a_run(hours_ago(24 * 10), user="ann", calls=[("gpt-4o", "0.50", 1.0)]))  # before
        ingest(self.project, a_run(hours_ago(5), user="bob", calls=[("gpt-4o", "1.00", 1.0)]))
        rollups.rollup_until_current()


class UsersTests(UsersTestCase):
    url = f"{BASE}/users/"

    def test_users_by_cost_with_runs_failures_and_last_activity(self):
        response = self.client.get(self.url)
        rows = response.context["users"]
        assert [r["group"] for r in rows] == ["bob", "ann"]
        ann = rows[1]
        assert (ann["runs"], ann["failed_runs"], ann["cost_usd"]) == (2, 1, Decimal("0.3"))
        assert abs(ann["last_activity"] - (hours_ago(2) + timedelta(seconds=10))) < timedelta(seconds=5)
        body = response.content.decode()
        assert f'href="{BASE}/users/ann/"' in body
        assert "50.0%" in body  # ann's failure rate
        assert f'<a href="{BASE}/users/" aria-current="page">Users</a>' in body

    def test_search_swaps_only_the_list(self):
        response = self.client.get(self.url, {"q": "AN"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="user-list")
        body = response.content.decode()
        assert "<html" not in body and body.lstrip().startswith('<section id="user-list"')
        assert [r["group"] for r in response.context["users"]] == ["ann"]
        assert "No user id contains" in self.client.get(self.url, {"q": "zed"}).content.decode()

    def test_users_are_paged(self):
        with mock.patch.object(entities, "USERS_PER_PAGE", 1):
            first = self.client.get(self.url)
            assert [r["group"] for r in first.context["users"]] == ["bob"]
            assert 'href="?cursor=2"' in first.content.decode()
            second = self.client.get(self.url, {"cursor": "2"})
            assert [r["group"] for r in second.context["users"]] == ["ann"]
            assert second.context["next_page"] is None

    def test_a_user_id_with_html_is_shown_as_text_and_its_link_works(self):
        nasty = f"{XSS}?x=1"
        ingest(self.project, a_run(hours_ago(1), user=nasty, calls=[("gpt-4o", "0.01", 1.0)]))
        rollups.rollup_until_current()
        body = self.client.get(self.url).content.decode()
        assert XSS not in body and "&lt;script&gt;" in body
        link = next(h for h in hrefs(body) if "script" in h)
        response = self.client.get(link)
        assert response.status_code == 200
        assert response.context["user_id"] == nasty
        assert response.context["totals"]["runs"] == 1
        assert XSS not in response.content.decode()

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(30):
            ingest(self.project, a_run(hours_ago(1 + i), user=f"user-{i}"))
        rollups.rollup_until_current()
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["users"]) == 32


class UserPageTests(UsersTestCase):
    url = f"{BASE}/users/ann/"

    def test_cost_in_the_range_with_change_vs_the_previous_period(self):
        response = self.client.get(self.url)
        totals, before = response.context["totals"], response.context["before"]
        assert (totals["cost_usd"], totals["runs"], totals["failed_runs"]) == (Decimal("0.3"), 2, 1)
        assert (before["cost_usd"], before["runs"]) == (Decimal("0.5"), 1)
        body = response.content.decode()
        assert '<div class="value" data-testid="user-cost">$0.30</div>' in body
        assert "\u221240%" in body  # $0.30 vs $0.50

    def test_their_agents_recent_runs_and_links_to_cost_and_runs(self):
        response = self.client.get(self.url)
        assert sorted(r["group"] for r in response.context["agents"]) == ["support-bot", "writer"]
        runs = response.context["runs"]
        assert len(runs) == 2 and runs[0].start_time > runs[1].start_time
        body = response.content.decode()
        assert f'href="{BASE}/runs/{runs[0].trace_id}/"' in body
        assert f'href="{BASE}/cost/?since=7d&amp;user=ann"' in body
        assert f'href="{BASE}/runs/?since=7d&amp;user=ann"' in body

    def test_the_chart_is_their_cost_by_agent_and_swaps_to_runs(self):
        chart = self.client.get(self.url).context["chart"]
        assert sorted(t["name"] for t in chart["data"]) == ["support-bot", "writer"]
        assert round(sum(sum(t["y"]) for t in chart["data"]), 6) == 0.3
        response = self.client.get(self.url, {"metric": "runs"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="user-chart")
        body = response.content.decode()
        assert "<html" not in body and body.lstrip().startswith('<section class="card" id="user-chart">')
        assert "Runs over time by agent" in body
        assert sum(sum(t["y"]) for t in chart_in(body, "user-chart-data")["data"]) == 2

    def test_a_user_without_runs_in_the_range_says_so(self):
        body = self.client.get(f"{BASE}/users/nobody/").content.decode()
        assert "No runs by this user in this range" in body

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(25):
            ingest(self.project, a_run(hours_ago(1 + i), user="ann", agent=f"agent-{i}", session=f"s-{i}"))
        rollups.rollup_until_current()
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["agents"]) == 27


# --- Tools ---------------------------------------------------------------------------------


class ToolsTestCase(EntitiesTestCase):
    def setUp(self):
        super().setUp()
        ingest(self.project, a_run(hours_ago(3), agent="planner", tools=[("search", True, 0.4), ("search", False, 0.2)],
               tool_error="Timeout after 30s"))  # fmt: skip
        ingest(self.project, a_run(hours_ago(2), agent="writer", tools=[("search", True, 0.5), ("search", False, 0.3),
               ("calculator", False, 0.1)], tool_error="HTTP 502"))  # fmt: skip
        ingest(self.project, a_run(hours_ago(1), tools=[("calculator", False, 0.1), ("book", True, 1.0)]))
        ingest(self.project, a_run(hours_ago(24 * 9), tools=[("search", False, 0.2), ("search", False, 0.2)]))  # before
        rollups.rollup_until_current()


class ToolsTests(ToolsTestCase):
    url = f"{BASE}/tools/"

    def test_tools_most_errors_first_with_error_rate_and_change(self):
        response = self.client.get(self.url)
        rows = response.context["tools"]
        assert [r["group"] for r in rows] == ["search", "book", "calculator"]
        search = rows[0]
        assert (search["tool_calls"], search["tool_errors"], search["tool_error_rate"]) == (4, 2, 0.5)
        assert search["latency_ms"]["p95"] > 0
        body = response.content.decode()
        assert '<td class="num" data-testid="tool-error-rate">50.0%</td>' in body
        assert "+100%" in body  # search: 4 calls vs 2 the week before
        assert f'<a href="{BASE}/tools/search/" title="search">search</a>' in body
        assert f'<a href="{BASE}/tools/" aria-current="page">Tools</a>' in body

    def test_the_chart_shows_calls_per_tool_and_swaps_to_errors(self):
        calls = self.client.get(self.url).context["chart"]
        assert {t["name"]: sum(t["y"]) for t in calls["data"]} == {"search": 4, "calculator": 2, "book": 1}
        response = self.client.get(self.url, {"metric": "errors"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="tools-chart")
        body = response.content.decode()
        assert "<html" not in body and body.lstrip().startswith('<section class="card" id="tools-chart"')
        errors = {t["name"]: sum(t["y"]) for t in chart_in(body, "tools-chart-data")["data"]}
        assert errors["search"] == 2 and errors["book"] == 1

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(20):
            ingest(self.project, a_run(hours_ago(4 + i), agent=f"a-{i}", tools=[(f"tool-{i}", i % 2 == 0, 0.1)]))
        rollups.rollup_until_current()
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["tools"]) == 23


class ToolPageTests(ToolsTestCase):
    url = f"{BASE}/tools/search/"

    def test_totals_latency_and_the_agents_calling_it(self):
        response = self.client.get(self.url)
        totals = response.context["totals"]
        assert (totals["tool_calls"], totals["tool_errors"], totals["tool_error_rate"]) == (4, 2, 0.5)
        assert response.context["before"]["tool_calls"] == 2
        assert 300 <= totals["latency_ms"]["p50"] <= 420
        agents = {r["group"]: r for r in response.context["agents"]}
        assert set(agents) == {"planner", "writer"}
        assert (agents["writer"]["tool_calls"], agents["writer"]["tool_errors"]) == (2, 1)
        body = response.content.decode()
        assert '<div class="value" data-testid="tool-error-rate">50.0%</div>' in body

    def test_the_chart_splits_calls_into_succeeded_and_failed(self):
        chart = self.client.get(self.url).context["chart"]
        assert {t["name"]: sum(t["y"]) for t in chart["data"]} == {"succeeded": 2, "failed": 2}

    def test_failed_calls_newest_first_with_their_error_and_a_link_to_the_span(self):
        response = self.client.get(self.url)
        failures = response.context["failures"]
        assert [s.error_message for s in failures] == ["HTTP 502", "Timeout after 30s"]
        body = response.content.decode()
        span = failures[0]
        assert f'href="{BASE}/runs/{span.trace_id}/?span={span.span_id}"' in body
        assert "<code>ToolError</code>" in body

    def test_failed_calls_of_other_tools_or_outside_the_range_are_left_out(self):
        ingest(self.project, a_run(hours_ago(24 * 9), tools=[("search", True, 0.2)], tool_error="old failure"))
        ingest(self.project, a_run(hours_ago(1), tools=[("other", True, 0.2)], tool_error="other tool"))
        messages = [s.error_message for s in self.client.get(self.url).context["failures"]]
        assert messages == ["HTTP 502", "Timeout after 30s"]

    def test_failed_calls_are_paged_in_a_fragment(self):
        for i in range(3):
            ingest(self.project, a_run(hours_ago(10 + i), tools=[("search", True, 0.1)], tool_error=f"older {i}"))
        seen, url = [], self.url
        with mock.patch.object(entities, "FAILURES_PER_PAGE", 2):
            while url:
                response = self.client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="tool-failures")
                body = response.content.decode()
                assert "<html" not in body and body.lstrip().startswith('<section class="card busy" id="tool-failures"')
                seen += re.findall(r'<span class="error-text" title="[^"]*">([^<]*)</span>', body)
                older = re.search(r'rel="next" href="([^"]+)" hx-get="([^"]+)"', body)
                assert older is None or older.group(1) == older.group(2), "the link works without htmx too"
                url = self.url + html.unescape(older.group(1)) if older else ""
        assert seen == ["HTTP 502", "Timeout after 30s", "older 0", "older 1", "older 2"]

    def test_a_bad_cursor_shows_the_newest_failures(self):
        newest = [s.error_message for s in self.client.get(self.url).context["failures"]]
        session_cursor = cursors.encode([hours_ago(1).isoformat(), "conv-a"])  # a tie-breaker of the wrong kind
        for bad in ("nonsense", "e30", "WyJ4IiwgMV0", "é", session_cursor, cursors.encode(["2026-01-01T00:00:00", 1])):
            response = self.client.get(self.url, {"cursor": bad})
            assert response.status_code == 200, bad
            assert [s.error_message for s in response.context["failures"]] == newest, bad
            assert not response.context["paged"]

    def test_a_tool_name_and_error_with_html_are_shown_as_text_and_its_link_works(self):
        nasty = f"{XSS}/x?y"
        ingest(self.project, a_run(hours_ago(1), tools=[(nasty, True, 0.2)], tool_error="<img src=x onerror=alert(2)>"))
        rollups.rollup_until_current()
        body = self.client.get(f"{BASE}/tools/").content.decode()
        assert XSS not in body and "&lt;script&gt;" in body
        link = next(h for h in hrefs(body) if "script" in h)
        response = self.client.get(link)
        assert response.status_code == 200
        page = response.content.decode()
        assert response.context["tool_name"] == nasty
        assert [s.error_message for s in response.context["failures"]] == ["<img src=x onerror=alert(2)>"]
        assert XSS not in page and "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page

    def test_a_tool_without_calls_in_the_range_says_so(self):
        body = self.client.get(f"{BASE}/tools/never-called/").content.decode()
        assert "No calls of this tool in this range" in body
        assert "No failed calls of this tool" in body

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(30):
            ingest(self.project, a_run(hours_ago(4 + i), agent=f"a-{i}", tools=[("search", True, 0.1)],
                   tool_error=f"e{i}"))  # fmt: skip
        rollups.rollup_until_current()
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["agents"]) == 32
        assert len(response.context["failures"]) == entities.FAILURES_PER_PAGE


# --- Models --------------------------------------------------------------------------------


class ModelsTests(EntitiesTestCase):
    url = f"{BASE}/models/"

    def setUp(self):
        super().setUp()
        ingest(self.project, a_run(hours_ago(3), calls=[("gpt-4o", "0.10", 1.0), ("gpt-4o", "0.30", 3.0)]))
        ingest(self.project, a_run(hours_ago(2), calls=[("my-llama-70b", None, 2.0), ("my-llama-70b", None, 2.0)]))
        rollups.rollup_until_current()

    def test_models_with_latency_percentiles_tokens_and_cost_per_thousand_calls(self):
        response = self.client.get(self.url)
        rows = {r["group"]: r for r in response.context["models"]}
        gpt = rows["gpt-4o"]
        assert (gpt["llm_calls"], gpt["input_tokens"], gpt["cost_usd"]) == (2, 200, Decimal("0.4"))
        assert gpt["latency_ms"]["p50"] <= gpt["latency_ms"]["p95"] <= gpt["latency_ms"]["p99"] <= 3100
        assert gpt["cost_per_1k"] == 200
        assert rows["my-llama-70b"]["unpriced_calls"] == 2
        assert rows["my-llama-70b"]["cost_per_1k"] is None, "no average over calls without a price"
        body = response.content.decode()
        assert "$200.00" in body
        assert f'<a href="{BASE}/models/" aria-current="page">Models</a>' in body

    def test_provider_share_and_cost_by_model_over_time(self):
        response = self.client.get(self.url)
        assert [(r["group"], r["llm_calls"]) for r in response.context["providers"]] == [("openai", 4)]
        chart = response.context["chart"]
        assert {t["name"] for t in chart["data"]} == {"gpt-4o", "my-llama-70b"}
        fragment = self.client.get(
            self.url, {"stack": "provider"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="models-chart"
        )
        body = fragment.content.decode()
        assert "<html" not in body and body.lstrip().startswith('<section class="card" id="models-chart"')
        assert [t["name"] for t in chart_in(body, "models-cost-chart")["data"]] == ["openai"]

    def test_unpriced_models_are_listed_with_a_prefilled_price_override_link_for_admins(self):
        admin = User.objects.create_user("root", password="x", is_staff=True, is_superuser=True)
        Membership.objects.create(organization=self.project.organization, user=admin)
        self.client.force_login(admin)
        response = self.client.get(self.url)
        unpriced = response.context["unpriced"]
        assert [(r["model"], r["provider"], r["calls"]) for r in unpriced] == [("my-llama-70b", "openai", 2)]
        link = f"/admin/pricing/priceoverride/add/?project={self.project.pk}&model_pattern=my-llama-70b&provider=openai"
        assert html.escape(link) in response.content.decode()
        form = self.client.get(link)
        assert form.status_code == 200
        initial = form.context["adminform"].form.initial
        assert (str(initial["project"]), initial["model_pattern"], initial["provider"]) == (
            str(self.project.pk),
            "my-llama-70b",
            "openai",
        )

    def test_viewers_see_unpriced_models_without_the_admin_link(self):
        body = self.client.get(self.url).content.decode()
        assert 'data-testid="unpriced-row"' in body and "my-llama-70b" in body
        assert "/admin/pricing/priceoverride/add/" not in body
        assert "An administrator can add a price override" in body

    def test_a_model_name_with_html_is_shown_as_text(self):
        ingest(self.project, a_run(hours_ago(1), calls=[(XSS, None, 1.0)]))
        rollups.rollup_until_current()
        body = self.client.get(self.url).content.decode()
        assert XSS not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body

    def test_the_query_count_does_not_grow_with_the_rows(self):
        one = self.count_queries(self.url)
        for i in range(20):
            ingest(self.project, a_run(hours_ago(4 + i), calls=[(f"model-{i}", "0.01" if i % 2 else None, 1.0)]))
        rollups.rollup_until_current()
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["models"]) == 22
        assert len(response.context["unpriced"]) == 11


# --- Every page ----------------------------------------------------------------------------

LIST_PAGES = ("sessions/", "users/", "tools/", "models/")
ALL_PAGES = (*LIST_PAGES, "sessions/conv-a/", "users/ann/", "tools/search/")


class EmptyAndAccessTests(EntitiesTestCase):
    def test_a_project_without_runs_shows_how_to_send_them_on_every_list(self):
        for page in LIST_PAGES:
            body = self.client.get(f"{BASE}/{page}").content.decode()
            assert "No runs yet in Acme agents" in body, page
            assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in body, page

    def test_another_organizations_user_gets_404_everywhere(self):
        ingest(self.project, a_run(hours_ago(1), session="conv-a", user="ann", tools=[("search", True, 0.1)]))
        rollups.rollup_until_current()
        for page in ALL_PAGES:
            assert self.client.get(f"{BASE}/{page}").status_code == 200, page
        rival, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("eve", organization=rival.organization))
        for page in ALL_PAGES:
            assert self.client.get(f"{BASE}/{page}").status_code == 404, page

    def test_signed_out_visitors_are_sent_to_sign_in(self):
        self.client.logout()
        for page in ALL_PAGES:
            response = self.client.get(f"{BASE}/{page}")
            assert response.status_code == 302, page
            assert response["Location"].startswith("/accounts/login/?next="), page

    def test_pages_answer_only_get(self):
        for page in LIST_PAGES:
            assert self.client.post(f"{BASE}/{page}").status_code == 405, page
