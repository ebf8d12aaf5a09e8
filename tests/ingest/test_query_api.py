"""Query API: metrics from rollups, runs and run trees, scoped to one project, strict parameters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.test import TestCase
from django.utils import timezone

from aggregates import rollups
from ingest.models import Run
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest, new_span_id, new_trace_id, span


def local_midnight(tz, days_ago=0):
    today = timezone.now().astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days_ago), time.min, tzinfo=tz).astimezone(UTC)


class QueryApiTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Acme agents", org_slug="acme")
        self.other, self.other_key = make_project("Rival", org_slug="rival")
        self.yesterday = local_midnight(UTC, 1)

    def get(self, path, key=None, **params):
        return self.client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {key or self.key}")

    def summary(self, **params):
        response = self.get("/api/v1/metrics/summary", **params)
        assert response.status_code == 200, response.content
        return response.json()

    def seed_yesterday(self):
        """Two agents yesterday (one failing run), one the day before, one today; another project too."""
        y = self.yesterday
        self.runs = [
            agent_run(y + timedelta(hours=1), agent="planner", calls=[("gpt-test", "0.10", 1.0), ("claude-test", "0.30", 4.0)],
                      tools=[("search", False, 0.2), ("search", True, 0.4)], seconds=8),
            agent_run(y + timedelta(hours=13, minutes=30), agent="planner", user="u-2", calls=[("gpt-test", "0.05", 2.0)],
                      tools=[("book", False, 1.0)], seconds=20, failed=True),
            agent_run(y + timedelta(hours=23, minutes=59), agent="writer", calls=[("gpt-test", None, 3.0)], seconds=3),
            agent_run(y - timedelta(minutes=1), agent="writer", calls=[("gpt-test", "9", 1.0)]),
            agent_run(y + timedelta(days=1, minutes=1), agent="planner", calls=[("gpt-test", "7", 1.0)]),
        ]  # fmt: skip
        for items in self.runs:
            ingest(self.project, items)
        ingest(self.other, agent_run(y + timedelta(hours=2), agent="planner", calls=[("gpt-test", "100", 1.0)]))
        rollups.rollup_until_current()


class SummaryTests(QueryApiTestCase):
    def test_cost_runs_and_run_latency_per_agent_yesterday(self):
        self.seed_yesterday()
        data = self.summary(group_by="agent", since="yesterday")
        assert data["latency_of"] == "run"
        assert data["since"] == self.yesterday.isoformat().replace("+00:00", "Z")
        rows = {r["group"]: r for r in data["rows"]}
        assert set(rows) == {"planner", "writer"}
        planner = rows["planner"]
        assert planner["cost_usd"] == "0.45"
        assert (planner["runs"], planner["failed_runs"], planner["llm_calls"]) == (2, 1, 3)
        assert (planner["tool_calls"], planner["tool_errors"], planner["tool_error_rate"]) == (
            3,
            1,
            pytest.approx(1 / 3),
        )
        assert (planner["input_tokens"], planner["output_tokens"], planner["unpriced_calls"]) == (300, 30, 0)
        durations = [8000, 20000]
        for p in (50, 90, 95, 99):
            assert planner["latency_ms"][f"p{p}"] == pytest.approx(np.percentile(durations, p), rel=0.01)
        assert rows["writer"]["cost_usd"] == "0"
        assert rows["writer"]["unpriced_calls"] == 1
        assert data["rows"][0]["group"] == "planner", "most expensive first"

    def test_one_agent_yesterday(self):
        self.seed_yesterday()
        data = self.summary(group_by="agent", agent="planner", since="yesterday")
        assert [(r["group"], r["cost_usd"]) for r in data["rows"]] == [("planner", "0.45")]

    def test_by_model_reads_llm_calls_and_their_latency(self):
        self.seed_yesterday()
        data = self.summary(group_by="model", since="yesterday")
        assert data["latency_of"] == "llm_call"
        rows = {r["group"]: r for r in data["rows"]}
        assert {m: (r["llm_calls"], r["cost_usd"]) for m, r in rows.items()} == {
            "gpt-test": (3, "0.15"),
            "claude-test": (1, "0.3"),
        }
        assert rows["claude-test"]["latency_ms"]["p50"] == pytest.approx(4000, rel=0.01)
        for p in (50, 90, 99):  # calls of both agents in one sketch
            assert rows["gpt-test"]["latency_ms"][f"p{p}"] == pytest.approx(
                np.percentile([1000, 2000, 3000], p), rel=0.01
            )
        assert rows["gpt-test"]["runs"] is None and rows["gpt-test"]["tool_calls"] is None
        by_provider = self.summary(group_by="provider", since="yesterday")["rows"]
        assert [(r["group"], r["llm_calls"], r["cost_usd"]) for r in by_provider] == [("openai", 4, "0.45")]

    def test_by_model_for_one_agent(self):
        self.seed_yesterday()
        rows = self.summary(group_by="model", agent="writer", since="yesterday")["rows"]
        assert [(r["group"], r["llm_calls"], r["unpriced_calls"]) for r in rows] == [("gpt-test", 1, 1)]

    def test_by_tool_gives_error_rates_and_tool_latency(self):
        self.seed_yesterday()
        data = self.summary(group_by="tool", since="yesterday")
        assert data["latency_of"] == "tool_call"
        rows = {r["group"]: r for r in data["rows"]}
        assert (rows["search"]["tool_calls"], rows["search"]["tool_errors"], rows["search"]["tool_error_rate"]) == (
            2,
            1,
            0.5,
        )
        assert rows["book"]["tool_error_rate"] == 0
        assert rows["search"]["latency_ms"]["p50"] == pytest.approx(300, rel=0.01)
        assert rows["search"]["cost_usd"] is None

    def test_by_status_user_and_api_key(self):
        self.seed_yesterday()
        status = {r["group"]: r["runs"] for r in self.summary(group_by="status", since="yesterday")["rows"]}
        assert status == {"ok": 2, "error": 1}
        users = {r["group"]: r for r in self.summary(group_by="user", since="yesterday")["rows"]}
        assert {u: r["cost_usd"] for u, r in users.items()} == {"u-1": "0.4", "u-2": "0.05"}
        for p in (50, 90):  # u-1's runs of both agents in one sketch
            assert users["u-1"]["latency_ms"][f"p{p}"] == pytest.approx(np.percentile([8000, 3000], p), rel=0.01)
        writer = self.summary(group_by="user", agent="writer", since="yesterday")["rows"]
        assert [(r["group"], r["runs"], r["cost_usd"]) for r in writer] == [("u-1", 1, "0")]
        keys = self.summary(group_by="api_key", since="yesterday")["rows"]
        assert [(r["group"], r["runs"]) for r in keys] == [(self.key[:11], 3)]

    def test_without_group_by_one_row_totals_the_range(self):
        self.seed_yesterday()
        (row,) = self.summary(since="yesterday", until="today")["rows"]
        assert (row["group"], row["runs"], row["cost_usd"]) == (None, 4, "7.45")

    def test_long_ranges_read_day_rows_and_agree_with_the_runs(self):
        start = local_midnight(UTC, 20) + timedelta(hours=5, minutes=30)
        for day in range(20):
            for hour in (0, 7, 19):
                ingest(
                    self.project, agent_run(start + timedelta(days=day, hours=hour), calls=[("gpt-test", "0.01", 1)])
                )
        rollups.rollup_until_current()
        since, until = start + timedelta(days=3, hours=2), start + timedelta(days=15, hours=9)
        direct = Run.objects.filter(
            project=self.project,
            start_time__gte=since.replace(minute=0),
            start_time__lt=until.replace(minute=0) + timedelta(hours=1),
        )
        (row,) = self.summary(since=since.isoformat(), until=until.isoformat())["rows"]
        assert row["runs"] == direct.count()
        assert Decimal(row["cost_usd"]) == sum(r.cost_usd for r in direct)
        (month,) = self.summary(since="30d")["rows"]
        assert month["runs"] == 60


class TimezoneTests(QueryApiTestCase):
    def test_yesterday_is_the_projects_calendar_day_in_los_angeles(self):
        la = ZoneInfo("America/Los_Angeles")
        self.project.timezone = "America/Los_Angeles"
        self.project.save()
        midnight = local_midnight(la)  # today 00:00 in Los Angeles
        ingest(self.project, agent_run(midnight - timedelta(minutes=30), agent="late", calls=[("gpt-test", "1.5", 1)]))
        ingest(self.project, agent_run(midnight + timedelta(minutes=30), agent="early", calls=[("gpt-test", "2.5", 1)]))
        ingest(
            self.project,
            agent_run(local_midnight(la, 1) - timedelta(minutes=1), agent="older", calls=[("gpt-test", "4", 1)]),
        )
        rollups.rollup_until_current()
        rows = self.summary(group_by="agent", since="yesterday")["rows"]
        assert [(r["group"], r["cost_usd"]) for r in rows] == [("late", "1.5")]
        rows = self.summary(group_by="agent", since="today")["rows"]
        assert [(r["group"], r["cost_usd"]) for r in rows] == [("early", "2.5")]


class TimeseriesTests(QueryApiTestCase):
    def test_hourly_cost_over_yesterday(self):
        self.seed_yesterday()
        response = self.get("/api/v1/metrics/timeseries", metric="cost", since="yesterday")
        assert response.status_code == 200, response.content
        data = response.json()
        assert len(data["buckets"]) == 24
        ((series),) = data["series"]
        assert series["group"] is None
        assert series["values"][1] == "0.4"
        assert series["values"][13] == "0.05"
        assert series["values"][0] == "0"
        assert series["values"][23] == "0"

    def test_daily_runs_per_agent_and_p95_latency(self):
        self.seed_yesterday()
        data = self.get(
            "/api/v1/metrics/timeseries", metric="runs", interval="day", group_by="agent", since="7d"
        ).json()
        assert len(data["buckets"]) == 7
        runs = {s["group"]: s["values"][-2:] for s in data["series"]}
        assert runs == {"planner": [2, 1], "writer": [1, 0]}
        data = self.get("/api/v1/metrics/timeseries", metric="p95_latency", group_by="model", since="yesterday").json()
        claude = next(s for s in data["series"] if s["group"] == "claude-test")
        assert claude["values"][1] == pytest.approx(4000, rel=0.01)
        assert claude["values"][2] is None

    def test_a_metric_the_grouping_cannot_give_is_a_400_naming_it(self):
        response = self.get("/api/v1/metrics/timeseries", metric="runs", group_by="model")
        assert response.status_code == 400
        assert "metric" in response.json()["errors"]
        response = self.get("/api/v1/metrics/timeseries", metric="cost", interval="hour", since="3000d")
        assert response.status_code == 400
        assert "interval" in response.json()["errors"]


class ParameterTests(QueryApiTestCase):
    def errors(self, path, **params):
        response = self.get(path, **params)
        assert response.status_code == 400, response.content
        return response.json()["errors"]

    def test_unknown_parameters_are_named(self):
        assert self.errors("/api/v1/metrics/summary", group_by="agent", colour="red") == {
            "colour": ["unknown parameter"]
        }
        assert set(self.errors("/api/v1/runs", agnet="x")) == {"agnet"}
        assert set(self.errors("/api/v1/metrics/timeseries", metric="cost", group="agent")) == {"group"}

    def test_bad_values_are_named(self):
        assert set(self.errors("/api/v1/metrics/summary", group_by="colour")) == {"group_by"}
        assert set(self.errors("/api/v1/metrics/summary", since="last tuesday")) == {"since"}
        assert set(self.errors("/api/v1/metrics/summary", since="today", until="yesterday")) == {"until"}
        assert set(self.errors("/api/v1/metrics/timeseries")) == {"metric"}
        assert set(self.errors("/api/v1/metrics/timeseries", metric="cost", interval="week")) == {"interval"}
        assert set(self.errors("/api/v1/runs", min_cost="cheap")) == {"min_cost"}
        assert set(self.errors("/api/v1/runs", min_duration="-1")) == {"min_duration"}
        assert set(self.errors("/api/v1/runs", status="weird")) == {"status"}
        assert set(self.errors("/api/v1/runs", cursor="garbage")) == {"cursor"}

    def test_combinations_the_rollups_cannot_answer_name_the_parameter(self):
        assert set(self.errors("/api/v1/metrics/summary", group_by="status", model="gpt-test")) == {"group_by"}
        assert set(self.errors("/api/v1/metrics/summary", group_by="tool", user="u-1")) == {"user"}
        assert set(self.errors("/api/v1/metrics/summary", group_by="model", tool="search")) == {"group_by"}
        assert set(self.errors("/api/v1/metrics/summary", model="gpt-test", tool="search")) == {"model"}


class ScopingTests(QueryApiTestCase):
    def test_another_projects_key_never_sees_this_projects_data(self):
        self.seed_yesterday()
        rows = self.summary(key=self.other_key, group_by="agent", since="yesterday")["rows"]
        assert [(r["group"], r["cost_usd"]) for r in rows] == [("planner", "100")]
        runs = self.get("/api/v1/runs", key=self.other_key).json()["results"]
        assert len(runs) == 1
        trace_id = Run.objects.filter(project=self.project).first().trace_id
        assert self.get(f"/api/v1/runs/{trace_id}", key=self.other_key).status_code == 404
        assert self.get(f"/api/v1/runs/{trace_id}").status_code == 200

    def test_a_key_cannot_name_another_project(self):
        response = self.get("/api/v1/metrics/summary", key=self.other_key, project=str(self.project.pk))
        assert response.status_code == 403
        assert self.get("/api/v1/metrics/summary", project="acme/acme-agents").status_code == 200

    def test_no_credentials_is_401_and_a_bad_key_too(self):
        assert self.client.get("/api/v1/metrics/summary").status_code == 401
        response = self.client.get("/api/v1/runs", HTTP_AUTHORIZATION="Bearer al_notakey0000000000000000000000")
        assert response.status_code == 401


class SessionAuthTests(QueryApiTestCase):
    def test_an_organization_member_reads_by_project_id_or_slug(self):
        self.seed_yesterday()
        self.client.force_login(make_user("alice", organization=self.project.organization))
        for ref in (str(self.project.pk), "acme/acme-agents"):
            response = self.client.get("/api/v1/metrics/summary", {"project": ref, "since": "yesterday"})
            assert response.status_code == 200, response.content
            assert response.json()["rows"][0]["cost_usd"] == "0.45"

    def test_a_non_member_cannot_see_the_project(self):
        self.client.force_login(make_user("mallory", organization=self.other.organization))
        response = self.client.get("/api/v1/metrics/summary", {"project": str(self.project.pk)})
        assert response.status_code == 404
        response = self.client.get("/api/v1/runs", {"project": "acme/acme-agents"})
        assert response.status_code == 404

    def test_a_session_must_name_the_project(self):
        self.client.force_login(make_user("alice", organization=self.project.organization))
        response = self.client.get("/api/v1/metrics/summary")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"project"}


class RunListTests(QueryApiTestCase):
    def list_runs(self, **params):
        response = self.get("/api/v1/runs", **params)
        assert response.status_code == 200, response.content
        return response.json()

    def test_filters(self):
        self.seed_yesterday()
        assert len(self.list_runs()["results"]) == 5
        assert {r["agent_name"] for r in self.list_runs(agent="writer")["results"]} == {"writer"}
        assert [r["status"] for r in self.list_runs(status="error")["results"]] == ["error"]
        assert len(self.list_runs(model="claude-test")["results"]) == 1
        assert len(self.list_runs(user="u-2")["results"]) == 1
        assert len(self.list_runs(min_cost="5")["results"]) == 2
        assert len(self.list_runs(min_duration="15000")["results"]) == 1
        assert len(self.list_runs(since="yesterday")["results"]) == 3
        assert self.list_runs(session="none")["results"] == []
        first = self.list_runs()["results"][0]
        assert first["cost_usd"] == "7.0000000000"
        assert first["api_key"] == self.key[:11]

    def test_cursor_pagination_walks_every_run_newest_first(self):
        self.seed_yesterday()
        seen, page = [], self.list_runs(limit=2)
        while True:
            seen += [r["start_time"] for r in page["results"]]
            if not page["next"]:
                break
            page = self.client.get(page["next"], HTTP_AUTHORIZATION=f"Bearer {self.key}").json()
        assert len(seen) == 5
        assert seen == sorted(seen, reverse=True)


class RunTreeTests(QueryApiTestCase):
    def test_the_run_with_its_span_tree(self):
        trace, root, step = new_trace_id(), new_span_id(), new_span_id()
        t = self.yesterday + timedelta(hours=3)
        ingest(
            self.project,
            [
                span(trace, span_id=root, kind="agent", name="planner", agent="planner", start=t, seconds=10),
                span(trace, span_id=step, parent=root, kind="chain", name="step", start=t + timedelta(seconds=1)),
                span(trace, parent=step, kind="llm", model="gpt-test", cost="0.2", input_tokens=3, output_tokens=1,
                     start=t + timedelta(seconds=2)),
                span(trace, parent=root, kind="tool", tool="search", start=t + timedelta(seconds=5)),
                span(trace, parent="00000000000000ff", kind="tool", tool="orphan", start=t + timedelta(seconds=6)),
            ],
        )  # fmt: skip
        data = self.get(f"/api/v1/runs/{trace}").json()
        assert data["run"]["trace_id"] == trace
        assert data["run"]["cost_usd"] == "0.2000000000"
        tops = data["spans"]
        assert [s["name"] for s in tops] == ["planner", "orphan"]
        assert [c["name"] for c in tops[0]["children"]] == ["step", "search"]
        (llm,) = tops[0]["children"][0]["children"]
        assert (llm["kind"], llm["request_model"], llm["cost_usd"], llm["children"]) == (
            "llm",
            "gpt-test",
            "0.2000000000",
            [],
        )

    def test_a_rest_trace_is_found_by_the_id_the_client_gave(self):
        response = self.client.post(
            "/api/v1/ingest",
            {"spans": [{"trace_id": "order-42", "span_id": "root", "name": "bot", "kind": "agent",
                        "start_time": "2026-11-20T10:00:00Z"}]},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )  # fmt: skip
        assert response.status_code == 200, response.content
        assert self.get("/api/v1/runs/order-42").json()["spans"][0]["name"] == "bot"

    def test_an_unknown_trace_is_404(self):
        assert self.get(f"/api/v1/runs/{new_trace_id()}").status_code == 404


class SchemaTests(TestCase):
    def test_the_query_endpoints_are_in_the_openapi_schema(self):
        response = self.client.get("/api/schema/", HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        text = response.content.decode()
        for path in (
            "/api/v1/metrics/summary",
            "/api/v1/metrics/timeseries",
            "/api/v1/runs",
            "/api/v1/runs/{trace_id}",
        ):
            assert path in text
        assert "group_by" in text and "min_duration" in text
