"""Evaluators in the Django admin (today's judge spend, done and error counts, a key that is never
shown back) and the judge's cost beside an evaluator's score on the run page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.test import TestCase
from django.utils import timezone

from ingest.models import Run
from scores.models import Evaluation, Evaluator, Score
from scores.services import NewScore, scores_upsert
from tenancy.models import Membership
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest
from tests.scores.judging import RUBRIC, make_evaluator

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz-9876"


class EvaluatorAdminTests(TestCase):
    def setUp(self):
        self.project, _ = make_project("Support", org_slug="acme")
        self.client.force_login(User.objects.create_superuser("root", "", "pw"))
        self.evaluator = make_evaluator(self.project, api_key=SECRET)

    def form(self, **fields):
        data = {
            "project": self.project.pk, "name": "grounded", "enabled": "on", "agent_name": "", "run_status": "any",
            "sample_rate": "100", "min_run_cost_usd": "", "rubric": RUBRIC, "verdict_type": "binary",
            "score_name": "", "judge_model": "gpt-4o-mini", "base_url": "", "api_key": "", "daily_cap_usd": "1",
        }  # fmt: skip
        data.update(fields)
        return data

    def test_the_list_shows_todays_judge_spend_and_counts(self):
        now = timezone.now()
        for i, (status, cost) in enumerate([("done", "0.00027"), ("done", "0.00031"), ("error", "0.0001")]):
            Evaluation.objects.create(
                project=self.project, evaluator=self.evaluator, trace_id=f"{i:032x}", status=status,
                cost_usd=Decimal(cost), finished_at=now,
            )  # fmt: skip
        Evaluation.objects.create(
            project=self.project, evaluator=self.evaluator, trace_id="f" * 32, status="done",
            cost_usd=Decimal(5), finished_at=now - timedelta(days=2),
        )  # fmt: skip

        response = self.client.get("/admin/scores/evaluator/")

        assert response.status_code == 200
        row = response.context["cl"].result_list[0]
        admin = response.context["cl"].model_admin
        assert admin.spend_today(row) == "$0.00068"
        assert (admin.done(row), admin.errors(row)) == (3, 1)
        assert "$0.00068" in response.content.decode()

    def test_the_key_is_never_rendered_and_kept_when_left_empty(self):
        url = f"/admin/scores/evaluator/{self.evaluator.pk}/change/"
        page = self.client.get(url).content.decode()
        assert SECRET not in page
        assert "sk-…9876" in page

        response = self.client.post(url, self.form(sample_rate="20"))
        assert response.status_code == 302, response.context["adminform"].form.errors
        self.evaluator.refresh_from_db()
        assert (self.evaluator.sample_rate, self.evaluator.api_key) == (Decimal(20), SECRET)

        self.client.post(url, self.form(api_key="sk-new-key-000000000"))
        self.evaluator.refresh_from_db()
        assert self.evaluator.api_key == "sk-new-key-000000000"
        self.client.post(url, self.form(remove_api_key="on"))
        self.evaluator.refresh_from_db()
        assert self.evaluator.api_key == ""

    def test_a_bad_rubric_is_refused_and_an_unpriced_judge_warned_about(self):
        url = "/admin/scores/evaluator/add/"
        response = self.client.post(url, self.form(name="other", rubric="{% for x in %}{{ output }}"))
        assert response.status_code == 200
        assert "rubric" in response.context["adminform"].form.errors

        response = self.client.post(url, self.form(name="other", judge_model="my-own-judge"), follow=True)
        assert Evaluator.objects.filter(name="other").exists()
        shown = [str(m) for m in response.context["messages"]]
        assert any("“my-own-judge” is not in the price book" in m for m in shown), shown


class RunPageTests(TestCase):
    def test_an_evaluator_score_shows_its_evaluation_cost(self):
        project, _ = make_project("Support", org_slug="acme")
        items = agent_run(datetime.now(UTC) - timedelta(minutes=5))
        ingest(project, items)
        trace_id = items[0][0].trace_id
        evaluator = make_evaluator(project)
        scores_upsert(
            project,
            [
                NewScore(trace_id=trace_id, name="grounded", data_type="boolean", value=1.0, label="pass",
                         source="evaluator", author="grounded", explanation="cited the order status"),
                NewScore(trace_id=trace_id, name="helpfulness", data_type="numeric", value=0.5, source="api"),
            ],
        )  # fmt: skip
        Evaluation.objects.create(
            project=project, evaluator=evaluator, trace_id=trace_id, status="done", cost_usd=Decimal("0.00027"),
            score=Score.objects.get(name="grounded"), finished_at=timezone.now(),
        )  # fmt: skip
        run_cost = Run.objects.get(trace_id=trace_id).cost_usd
        user = make_user("vic", organization=project.organization, role=Membership.Role.VIEWER)
        self.client.force_login(user)

        page = self.client.get(f"/p/acme/support/runs/{trace_id}/").content.decode()

        assert page.count('data-testid="evaluation-cost"') == 1, "only the evaluator's score has one"
        assert "evaluation cost $0.0003" in page
        assert "$0.00027" in page  # the exact amount, in the title
        assert Run.objects.get(trace_id=trace_id).cost_usd == run_cost
