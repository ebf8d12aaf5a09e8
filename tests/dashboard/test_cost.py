"""Cost explorer: groupings, filters and ranges kept in the URL, totals, drill-down, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from aggregates import rollups
from tests.dashboard.test_overview import DashboardTestCase, midnight
from tests.ingest.spans import agent_run, ingest


class CostExplorerTests(DashboardTestCase):
    url = "/p/acme/acme-agents/cost/"

    def setUp(self):
        super().setUp()
        self.seed()

    def test_one_agent_yesterday_reads_its_total(self):
        response = self.client.get(self.url, {"agent": "planner", "since": "yesterday"})
        body = response.content.decode()
        assert '<div class="value" data-testid="cost-total">$0.40</div>' in body
        assert "agent = planner" in body

    def test_grouping_by_agent_lists_each_agents_cost_and_share(self):
        response = self.client.get(self.url, {"since": "yesterday"})
        rows = {row["group"]: row for row in response.context["rows"]}
        assert rows["planner"]["cost_usd"] == Decimal("0.4")
        assert rows["writer"]["cost_usd"] == Decimal("0.03")
        assert rows["planner"]["failed_runs"] == 1
        assert "93%" in response.content.decode()  # planner's share of $0.43

    def test_grouping_by_model_for_one_agent(self):
        response = self.client.get(self.url, {"since": "yesterday", "agent": "planner", "group_by": "model"})
        rows = {row["group"]: row["cost_usd"] for row in response.context["rows"]}
        assert rows == {"gpt-4o": Decimal("0.2"), "claude-x": Decimal("0.2")}
        assert response.context["latency_of"] == "llm_call"

    def test_grouping_by_tool_shows_error_rates_and_an_errors_chart(self):
        response = self.client.get(self.url, {"since": "yesterday", "group_by": "tool"})
        (row,) = response.context["rows"]
        assert (row["group"], row["tool_calls"], row["tool_errors"], row["tool_error_rate"]) == ("search", 2, 1, 0.5)
        assert "Tool errors over time by tool" in response.content.decode()

    def test_a_row_drills_down_keeping_the_range(self):
        response = self.client.get(self.url, {"since": "yesterday"})
        assert (
            '<a href="?since=yesterday&amp;group_by=model&amp;agent=planner">planner</a>' in response.content.decode()
        )

    def test_a_filter_can_be_removed(self):
        response = self.client.get(self.url, {"since": "yesterday", "agent": "planner", "group_by": "model"})
        assert (
            '<a href="?since=yesterday&amp;group_by=model" aria-label="Remove filter agent">'
            in response.content.decode()
        )

    def test_combinations_no_table_holds_are_explained(self):
        response = self.client.get(self.url, {"group_by": "status", "model": "gpt-4o"})
        assert response.status_code == 200
        assert "status cannot be combined with a model or provider" in response.content.decode()

    def test_an_unknown_grouping_falls_back_to_agent(self):
        response = self.client.get(self.url, {"group_by": "colour"})
        assert response.context["group_by"] == "agent"

    def test_htmx_navigation_returns_the_explorer_only(self):
        response = self.client.get(
            self.url, {"since": "yesterday", "group_by": "model"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="explorer"
        )
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="explorer"')
        assert "<html" not in body
        assert "gpt-4o" in body

    def test_csv_has_the_tables_rows_with_full_precision(self):
        response = self.client.get("/p/acme/acme-agents/cost.csv", {"since": "yesterday", "group_by": "model"})
        assert response["Content-Type"] == "text/csv"
        assert 'filename="cost-acme-agents-model-yesterday.csv"' in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert {r["group"]: r["cost_usd"] for r in rows} == {"gpt-4o": "0.23", "claude-x": "0.2"}
        assert {r["group"]: r["llm_calls"] for r in rows} == {"gpt-4o": "3", "claude-x": "1"}

    def test_csv_of_an_impossible_combination_is_a_400(self):
        response = self.client.get("/p/acme/acme-agents/cost.csv", {"group_by": "status", "tool": "search"})
        assert response.status_code == 400

    def test_query_count_is_fixed(self):
        self.client.get(self.url)  # the first visit records the last project opened
        with self.assertNumQueries(8):
            self.client.get(self.url, {"since": "30d", "group_by": "model"})


class CostCsvInjectionTests(DashboardTestCase):
    def test_names_that_look_like_formulas_are_exported_as_text(self):
        y = midnight(1)
        for agent in ('=HYPERLINK("https://evil.example","click")', "+1+1", "@SUM(A1)", "-2+3", "planner"):
            ingest(self.project, agent_run(y + timedelta(hours=2), agent=agent, calls=[("gpt-4o", "0.10", 1.0)]))
        rollups.rollup_until_current()
        response = self.client.get("/p/acme/acme-agents/cost.csv", {"since": "yesterday"})
        groups = {row["group"] for row in csv.DictReader(io.StringIO(response.content.decode()))}
        assert groups == {'\'=HYPERLINK("https://evil.example","click")', "'+1+1", "'@SUM(A1)", "'-2+3", "planner"}
