"""Runs list: filters, search and sorts kept in the URL, keyset pages, the htmx fragment,
empty states, scoping, escaping and a query count that does not grow with the rows."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import cursors
from ingest.models import Run
from tests.dashboard.test_overview import DashboardTestCase
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest


def hours_ago(hours: float) -> datetime:
    return timezone.now().astimezone(UTC).replace(microsecond=0) - timedelta(hours=hours)


def a_run(start, *, name="", session="", error="", **kwargs):
    """agent_run with a run name, a session and a root error message when asked."""
    items = agent_run(start, failed=bool(error) or kwargs.pop("failed", False), **kwargs)
    fields = items[0][1]
    if name:
        fields.run_name = name
    if session:
        fields.session_id = session
    if error:
        fields.error_message = error
    return items


class RunsTestCase(DashboardTestCase):
    url = "/p/acme/acme-agents/runs/"

    def listed(self, **params):
        """The trace ids the page lists, in order."""
        response = self.client.get(self.url, params)
        assert response.status_code == 200
        return [run.trace_id for run in response.context["runs"]]

    def trace(self, items):
        return items[0][0].trace_id


class RunsListTests(RunsTestCase):
    def setUp(self):
        super().setUp()
        self.planner = a_run(hours_ago(5), agent="planner", user="u-1", session="s-1", name="plan trip",
                             calls=[("gpt-4o", "0.10", 1.0)], seconds=12)  # fmt: skip
        self.failed = a_run(hours_ago(3), agent="planner", user="u-2", error="quota exceeded for org",
                            calls=[("claude-x", "0.50", 2.0)], tools=[("search", True, 0.5)], seconds=3)  # fmt: skip
        self.writer = a_run(hours_ago(1), agent="writer", user="u-1", session="s-2", name="Write Summary",
                            calls=[("mystery-model", None, 1.0)], seconds=30)  # fmt: skip
        for items in (self.planner, self.failed, self.writer):
            ingest(self.project, items)
        self.old = a_run(hours_ago(24 * 12), agent="planner", name="old run")
        ingest(self.project, self.old)
        self.ids = {name: self.trace(items) for name, items in
                    (("planner", self.planner), ("failed", self.failed), ("writer", self.writer), ("old", self.old))}  # fmt: skip

    def test_newest_first_over_the_last_seven_days_by_default(self):
        assert self.listed() == [self.ids["writer"], self.ids["failed"], self.ids["planner"]]
        assert self.ids["old"] in self.listed(since="30d")

    def test_sorts_oldest_most_expensive_and_slowest(self):
        assert self.listed(sort="oldest") == [self.ids["planner"], self.ids["failed"], self.ids["writer"]]
        # the writer's only call is unpriced: no cost sorts last
        assert self.listed(sort="cost") == [self.ids["failed"], self.ids["planner"], self.ids["writer"]]
        assert self.listed(sort="duration") == [self.ids["writer"], self.ids["planner"], self.ids["failed"]]
        assert self.listed(sort="bogus") == self.listed(sort="newest")

    def test_each_filter_narrows_the_list(self):
        ids = self.ids
        assert self.listed(agent="writer") == [ids["writer"]]
        assert self.listed(status="error") == [ids["failed"]]
        assert self.listed(status="ok") == [ids["writer"], ids["planner"]]
        assert self.listed(model="claude-x") == [ids["failed"]]
        assert self.listed(user="u-1") == [ids["writer"], ids["planner"]]
        assert self.listed(session="s-1") == [ids["planner"]]
        assert self.listed(min_cost="0.2") == [ids["failed"]]
        assert self.listed(min_cost="$0.10") == [ids["failed"], ids["planner"]]
        assert self.listed(min_seconds="10") == [ids["writer"], ids["planner"]]
        assert self.listed(agent="planner", status="ok") == [ids["planner"]]

    def test_blank_fields_of_the_submitted_form_mean_any(self):
        everything = self.listed()
        blank = dict.fromkeys(("q", "agent", "status", "model", "user", "session", "min_cost", "min_seconds"), "")
        assert self.listed(**blank, sort="newest") == everything

    def test_a_bad_number_is_explained_and_ignored(self):
        response = self.client.get(self.url, {"min_cost": "lots", "min_seconds": "soon"})
        body = response.content.decode()
        assert "Min cost must be an amount in dollars" in body
        assert "Min duration must be a number of seconds" in body
        assert len(response.context["runs"]) == 3

    def test_search_by_name_ignores_case(self):
        assert self.listed(q="summary") == [self.ids["writer"]]
        assert self.listed(q="TRIP") == [self.ids["planner"]]

    def test_search_by_trace_id_or_its_start(self):
        failed = self.ids["failed"]
        assert self.listed(q=failed) == [failed]
        assert self.listed(q=failed.upper()) == [failed]
        items = a_run(hours_ago(2), name="coffee break")
        for raw, _ in items:
            raw.trace_id = "c0ffee00112233445566778899aabbcc"
        ingest(self.project, items)
        assert self.listed(q="C0FFEE") == ["c0ffee00112233445566778899aabbcc"]
        assert self.listed(q="c0ffee00-1122-3344-5566-778899aabbcc") == ["c0ffee00112233445566778899aabbcc"]
        assert self.listed(q="coffee") == ["c0ffee00112233445566778899aabbcc"], "not hex: searched as a name"

    def test_rows_show_status_error_cost_and_link_to_run_and_session(self):
        body = self.client.get(self.url).content.decode()
        failed_row = re.search(r'<tr class="failed" data-testid="run-row">(.*?)</tr>', body, re.S).group(1)
        assert '<span class="badge error">failed</span>' in failed_row
        assert "quota exceeded for org" in failed_row
        assert "1 failed" in failed_row  # the failing tool call
        assert "$0.50" in failed_row
        assert f'href="/p/acme/acme-agents/runs/{self.ids["failed"]}/"' in body
        assert 'href="/p/acme/acme-agents/sessions/s-1/"' in body
        assert "1 unpriced" in body  # the writer's call
        assert body.count('class="failed"') == 1

    def test_start_times_show_in_the_viewers_time_zone(self):
        from tenancy.models import UserProfile

        UserProfile.objects.update_or_create(user=self.user, defaults={"timezone": "Asia/Tokyo"})
        body = self.client.get(self.url).content.decode()
        writer = Run.objects.get(trace_id=self.ids["writer"])
        local = writer.start_time.astimezone(timezone.get_fixed_timezone(9 * 60))
        assert local.strftime("%H:%M:%S") in body

    def test_full_page_and_the_fragment_the_filter_form_swaps(self):
        page = self.client.get(self.url, {"agent": "writer"}).content.decode()
        assert "<html" in page and 'id="run-list"' in page
        assert 'hx-target="#run-list"' in page and 'hx-push-url="true"' in page
        fragment = self.client.get(self.url, {"agent": "writer"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-list")
        body = fragment.content.decode()
        assert "<html" not in body and "<form" in body  # the range picker's form, swapped out of band
        assert body.lstrip().startswith('<section id="run-list"')
        assert 'id="run-range" hx-swap-oob="true"' in body
        assert "agent=writer" in body, "range links keep the filters"
        assert [r.trace_id for r in fragment.context["runs"]] == [self.ids["writer"]]

    def test_no_match_says_so_with_a_link_clearing_the_filters(self):
        response = self.client.get(self.url, {"agent": "nobody", "since": "30d", "sort": "cost"})
        body = response.content.decode()
        assert "No runs match these filters" in body
        assert '<a href="?since=30d&amp;sort=cost">Clear filters</a>' in body
        assert "No runs yet in" not in body

    def test_html_in_names_and_errors_is_shown_as_text(self):
        ingest(
            self.project, a_run(hours_ago(2), name="<script>alert(1)</script>", error="<img src=x onerror=alert(2)>")
        )
        body = self.client.get(self.url).content.decode()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<img src=x" not in body


class RunsPaginationTests(RunsTestCase):
    def setUp(self):
        super().setUp()
        start = hours_ago(10)
        # ties on purpose: equal start times, equal and missing costs, equal durations
        plans = [
            (0, "0.10", 5),
            (0, "0.10", 5),
            (1, None, 5),
            (1, "0.30", 2),
            (2, None, 9),
            (2, "0.10", 9),
            (3, "0.20", 5),
        ]
        self.ids = []
        for minutes, cost, seconds in plans:
            model = "gpt-4o" if cost else "mystery-model"  # no price: no cost
            items = a_run(start + timedelta(minutes=minutes), calls=[(model, cost, 1.0)], seconds=seconds)
            ingest(self.project, items)
            self.ids.append(self.trace(items))

    def walk(self, sort):
        """Trace ids page by page following Next, then back following Previous."""
        forward, pages, params = [], 0, {"sort": sort}
        while True:
            response = self.client.get(self.url, params)
            forward += [r.trace_id for r in response.context["runs"]]
            pages += 1
            if not response.context["next_cursor"]:
                break
            assert f'rel="next" href="?sort={sort}&amp;cursor=' in response.content.decode()
            params = {"sort": sort, "cursor": response.context["next_cursor"]}
        backward = []
        while response.context["previous_cursor"]:
            params = {"sort": sort, "cursor": response.context["previous_cursor"]}
            response = self.client.get(self.url, params)
            backward = [r.trace_id for r in response.context["runs"]] + backward
        return forward, backward, pages

    def test_every_sort_walks_each_run_exactly_once_both_ways(self):
        with mock.patch("dashboard.views.runs.PAGE_SIZE", 2):
            for sort in ("newest", "oldest", "cost", "duration"):
                forward, backward, pages = self.walk(sort)
                assert sorted(forward) == sorted(self.ids), sort
                assert len(forward) == len(set(forward)) == 7
                assert pages == 4
                assert backward == forward[: len(backward)] and len(backward) == 6, sort  # all but the last page
                expected = self.listed(sort=sort)
                assert forward[:2] == expected[:2]

    def test_pages_follow_the_sort_order(self):
        with mock.patch("dashboard.views.runs.PAGE_SIZE", 3):
            forward, _, _ = self.walk("cost")
        costs = [Run.objects.get(trace_id=t).cost_usd for t in forward]
        priced = [c for c in costs if c is not None]
        assert priced == sorted(priced, reverse=True)
        assert costs[-2:] == [None, None], "runs without a cost come last"

    def test_a_filter_change_drops_the_cursor_and_a_bad_cursor_starts_over(self):
        assert 'name="cursor"' not in self.client.get(self.url).content.decode()
        assert self.listed(cursor="not-a-cursor") == self.listed()

    def test_a_tampered_or_garbage_cursor_shows_the_first_page(self):
        with mock.patch("dashboard.views.runs.PAGE_SIZE", 2):
            cost_cursor = self.client.get(self.url, {"sort": "cost"}).context["next_cursor"]
            garbage = [
                "not-a-cursor",
                "\u00e9",  # not ASCII
                "e30",  # {}
                cursors.encode(["next", "newest"]),
                cursors.encode({"d": "sideways", "s": "newest", "v": None, "k": 1}),
                cursors.encode({"d": "next", "s": "cost", "v": "lots", "k": 1}),  # not an amount
                cursors.encode({"d": "next", "s": "duration", "v": "inf", "k": 1}),
                cursors.encode({"d": "next", "s": "newest", "v": "yesterday", "k": 1}),
                cursors.encode({"d": "next", "s": "newest", "v": None, "k": "1"}),
                base64.urlsafe_b64encode(b"[" * 20_000).decode(),  # deeper than the JSON parser goes
            ]
            for sort in ("newest", "cost", "duration"):
                expected = self.listed(sort=sort)
                tokens = garbage if sort == "cost" else [*garbage, cost_cursor]  # another sort's cursor
                for token in tokens:
                    response = self.client.get(self.url, {"sort": sort, "cursor": token})
                    assert response.status_code == 200, token
                    assert [r.trace_id for r in response.context["runs"]] == expected, (sort, token)
                    assert not response.context["previous_cursor"], "the first page has no Previous"


class RunsEmptyAndAccessTests(RunsTestCase):
    def test_a_project_without_runs_shows_how_to_send_them(self):
        body = self.client.get(self.url).content.decode()
        assert "No runs yet in Acme agents" in body
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in body

    def test_a_range_without_runs_is_not_the_setup_page(self):
        ingest(self.project, a_run(hours_ago(24 * 20)))
        body = self.client.get(self.url).content.decode()
        assert "No runs in this range (7 days)" in body
        assert "No runs yet in" not in body

    def test_another_organizations_user_gets_404_and_signed_out_goes_to_login(self):
        ingest(self.project, a_run(hours_ago(1)))
        rival, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("eve", organization=rival.organization))
        assert self.client.get(self.url).status_code == 404
        self.client.logout()
        response = self.client.get(self.url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    def test_the_nav_marks_runs_as_current(self):
        body = self.client.get(self.url).content.decode()
        assert '<a href="/p/acme/acme-agents/runs/" aria-current="page">Runs</a>' in body


class RunsQueryCountTests(RunsTestCase):
    def count_queries(self):
        self.client.get(self.url)  # the first visit also records the last project opened
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(self.url)
        assert response.status_code == 200
        return len(queries)

    def test_the_query_count_does_not_grow_with_the_rows(self):
        ingest(self.project, a_run(hours_ago(1), session="s-0", tools=[("search", True, 0.1)]))
        one = self.count_queries()
        for i in range(29):
            ingest(
                self.project, a_run(hours_ago(2 + i), session=f"s-{i}", user=f"u-{i}", tools=[("search", False, 0.1)])
            )
        with self.assertNumQueries(one):
            response = self.client.get(self.url)
        assert len(response.context["runs"]) == 30
        assert one <= 10
