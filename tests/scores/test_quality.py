"""Quality beside cost: hourly score rollups, pass rate and cost per passing run per agent on the
overview and cost explorer, the Scores page, and the runs list's score column and filter."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from aggregates import rollups
from scores.models import Score, ScoreRollup
from scores.services import NewScore, scores_upsert
from tests.dashboard.test_overview import DashboardTestCase, midnight
from tests.ingest.spans import agent_run, ingest

BOOLEAN, NUMERIC = Score.DataType.BOOLEAN, Score.DataType.NUMERIC


class QualityTests(DashboardTestCase):
    """Yesterday: planner 4 runs at $0.10 (3 pass `grounded`, 1 fails; helpfulness 8, 6, 2),
    writer 2 runs at $0.05 (both pass)."""

    def setUp(self):
        super().setUp()
        day = midnight(1)
        self.planner = []
        for i in range(4):
            items = agent_run(day + timedelta(hours=2 + i), agent="planner", calls=[("gpt-4o", "0.10", 1.0)])
            ingest(self.project, items)
            self.planner.append(items[0][0].trace_id)
        self.writer = []
        for i in range(2):
            items = agent_run(day + timedelta(hours=9, minutes=i), agent="writer", calls=[("gpt-4o", "0.05", 1.0)])
            ingest(self.project, items)
            self.writer.append(items[0][0].trace_id)
        verdicts = [(t, 0.0 if t == self.planner[3] else 1.0) for t in self.planner] + [(t, 1.0) for t in self.writer]
        scores_upsert(self.project, [NewScore(t, "grounded", BOOLEAN, v, "api", author="ci") for t, v in verdicts])
        helpful = zip(self.planner, (8.0, 6.0, 2.0), strict=False)
        scores_upsert(self.project, [NewScore(t, "helpfulness", NUMERIC, v, "api", author="ci") for t, v in helpful])
        rollups.rollup_until_current()

    def test_scores_are_rolled_up_by_the_hour_their_run_started_per_agent_and_name(self):
        rows = ScoreRollup.objects.filter(project=self.project, name="grounded", agent_name="planner")
        assert rows.count() == 4  # one run per hour
        assert sum(r.passed for r in rows) == 3 and sum(r.booleans for r in rows) == 4
        writer = ScoreRollup.objects.get(project=self.project, name="grounded", agent_name="writer")
        assert (writer.runs, writer.passing_runs, writer.cost_usd) == (2, 2, Decimal("0.10"))

    def test_a_score_sent_after_the_rollup_replaces_the_old_verdict_at_the_next_pass(self):
        failed = self.planner[3]
        scores_upsert(self.project, [NewScore(failed, "grounded", BOOLEAN, 1.0, "api", author="ci")])
        rollups.rollup_until_current()
        rows = ScoreRollup.objects.filter(project=self.project, name="grounded", agent_name="planner")
        assert sum(r.passed for r in rows) == 4

    def test_overview_shows_pass_rate_and_cost_per_passing_run_per_agent(self):
        response = self.client.get(self.url, {"since": "yesterday"})
        agents = {row["group"]: row for row in response.context["agents"]}
        # planner: 3 of 4 grounded passes, helpfulness has no pass/fail: 75%; $0.40 / (4 x 0.75) runs
        assert agents["planner"]["pass_rate"] == 0.75
        assert round(agents["planner"]["cost_per_pass"], 4) == Decimal("0.1333")
        assert agents["writer"]["pass_rate"] == 1.0
        body = response.content.decode()
        assert "Pass rate" in body and "75.0%" in body and "$0.13" in body

    def test_cost_explorer_by_agent_shows_quality_and_hides_it_when_rows_are_not_agents(self):
        body = self.client.get("/p/acme/acme-agents/cost/", {"since": "yesterday"}).content.decode()
        assert '<td class="num" data-testid="pass-rate">75.0%</td>' in body
        by_model = self.client.get("/p/acme/acme-agents/cost/", {"since": "yesterday", "group_by": "model"})
        assert "Pass rate" not in by_model.content.decode()

    def test_scores_page_lists_names_with_trend_distribution_and_lowest_runs(self):
        response = self.client.get("/p/acme/acme-agents/scores/", {"since": "yesterday", "name": "helpfulness"})
        assert response.status_code == 200
        rows = dict(response.context["rows"])
        assert rows["grounded"].pass_rate == 5 / 6
        assert rows["helpfulness"].mean == 16 / 3 and rows["helpfulness"].pass_rate is None
        lowest = [(score.value, run.trace_id) for score, run in response.context["lowest"]]
        assert lowest == [(2.0, self.planner[2]), (6.0, self.planner[1]), (8.0, self.planner[0])]
        labels = response.context["distribution_chart"]["data"][0]["labels"]
        assert sorted(labels) == ["2", "6", "8"]
        (trend,) = response.context["trend_chart"]["data"]
        assert trend["name"] == "helpfulness (mean)"
        assert sorted(v for v in trend["y"] if v is not None) == [2.0, 6.0, 8.0]

    def test_scores_page_without_scores_explains_how_to_send_them(self):
        Score.objects.all().delete()
        ScoreRollup.objects.all().delete()
        body = self.client.get("/p/acme/acme-agents/scores/").content.decode()
        assert "/api/v1/scores" in body and "gen_ai.evaluation.result" in body

    def test_runs_list_shows_scores_and_filters_by_a_failed_verdict_or_a_low_value(self):
        page = self.client.get("/p/acme/acme-agents/runs/", {"since": "7d"}).content.decode()
        assert "grounded fail" in page and "helpfulness 8" in page

        failed = self.client.get("/p/acme/acme-agents/runs/", {"since": "7d", "score": "grounded", "result": "fail"})
        assert [run.trace_id for run in failed.context["runs"]] == [self.planner[3]]
        low = self.client.get("/p/acme/acme-agents/runs/", {"since": "7d", "score": "helpfulness", "score_below": "7"})
        assert {run.trace_id for run in low.context["runs"]} == {self.planner[1], self.planner[2]}
        bad = self.client.get("/p/acme/acme-agents/runs/", {"since": "7d", "score": "x", "score_below": "lots"})
        assert "Score below must be a number" in bad.content.decode()
