"""Organization budgets: one limit over the spend of every project of an organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client, TestCase
from django.utils import timezone

from budgets import evaluation, services, spending
from budgets.delivery import outbox
from budgets.models import Alert, Budget, Destination
from ingest import timeranges
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack
from tests.ingest.spans import agent_run, ingest

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def org_budget(project, amount: str = "10", **kwargs) -> Budget:
    return make_budget(project, amount, name="Acme monthly", scope=Budget.Scope.ORGANIZATION, scope_value="", **kwargs)


class OrganizationBudgetTests(TestCase):
    def setUp(self):
        self.home, self.home_key = make_project("Support", org_slug="acme")
        self.sibling, self.sibling_key = make_project("Research", org_slug="acme")
        self.stranger, self.stranger_key = make_project("Elsewhere", org_slug="other")

    def test_spend_of_every_project_of_the_organization_counts_and_no_other(self):
        spend(self.home, NOW - timedelta(hours=3), "5")
        spend(self.sibling, NOW - timedelta(hours=2), "3.5", agent="researcher")
        spend(self.stranger, NOW - timedelta(hours=2), "100")
        budget = org_budget(self.home)

        status = spending.budget_status(budget, NOW)
        assert (status.spend, status.state) == (Decimal("8.5"), "warning")
        # Evaluating the sibling project alone is enough: the budget covers it.
        assert evaluation.evaluate_budgets(self.sibling, NOW) == 1
        assert list(Alert.objects.filter(budget=budget).values_list("threshold", flat=True)) == [80]
        assert evaluation.evaluate_budgets(self.stranger, NOW) == 0

    def test_a_runaway_run_in_another_project_alerts_with_a_link_to_that_run(self):
        slack: FakeSlack = self.enterContext(fake_slack())
        destination = Destination.objects.create(project=self.home, name="ops", url=slack.url())
        budget = org_budget(self.home, "1000", run_cost_cap_usd=Decimal("2"))
        budget.destinations.add(destination)
        items = agent_run(timezone.now() - timedelta(minutes=1), agent="researcher", calls=[("gpt-test", "3", 1.0)])
        ingest(self.stranger, agent_run(timezone.now() - timedelta(minutes=1), calls=[("gpt-test", "9", 1.0)]))

        ingest(self.sibling, items)  # checked at ingest, no rollup pass

        (alert,) = Alert.objects.filter(kind=Alert.Kind.RUN_COST)
        assert (alert.budget, alert.trace_id, alert.spend) == (budget, items[0][0].trace_id, Decimal("3"))
        assert outbox.deliver_due_alerts() == 1
        payload = slack.received[0].json
        assert "whole organization" in payload["text"]
        assert payload["blocks"][-1]["elements"][0]["url"].endswith(f"/p/acme/research/runs/{alert.trace_id}/")

    def test_every_project_of_the_organization_sees_it_in_the_check_api_and_dashboard(self):
        now = timezone.now()  # inside today's budget period, even just after midnight
        spend(self.sibling, max(now - timedelta(minutes=5), timeranges.floor_day(now)), "12", agent="researcher")
        org_budget(self.home)

        body = Client(HTTP_AUTHORIZATION=f"Bearer {self.sibling_key}").get("/api/v1/budgets/check").json()
        assert body["exceeded"] is True
        assert [(b["name"], b["scope"], b["spend_usd"]) for b in body["budgets"]] == [
            ("Acme monthly", "organization", "12")
        ]
        stranger = Client(HTTP_AUTHORIZATION=f"Bearer {self.stranger_key}").get("/api/v1/budgets/check").json()
        assert stranger == {"exceeded": False, "budgets": []}

        browser = Client()
        browser.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
        page = browser.get("/p/acme/research/budgets/").content.decode()
        assert "Acme monthly" in page and "whole organization" in page

    def test_project_keys_cannot_create_organization_budgets(self):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {self.home_key}").post(
            "/api/v1/budgets",
            {"name": "All", "scope": "organization", "period": "month", "amount_usd": "100"},
            content_type="application/json",
        )
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"scope"}
        assert not Budget.objects.exists()

    def test_an_organization_budget_takes_no_scope_value(self):
        budget = Budget(
            project=self.home, name="x", scope=Budget.Scope.ORGANIZATION, scope_value="bot", amount_usd=Decimal(5)
        )
        with pytest.raises(ValidationError) as raised:
            services.budget_save(budget)
        assert set(raised.value.message_dict) == {"scope_value"}
