"""Budgets and alerts pages: progress, projection, history, links to what is behind an alert."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from budgets import spending
from budgets.models import Alert, Budget
from tests.dashboard.test_overview import DashboardTestCase, midnight
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest


class BudgetPagesTests(DashboardTestCase):
    def make_budget(self, **kwargs):
        fields = {"name": "Planner monthly", "scope": Budget.Scope.AGENT, "scope_value": "planner",
                  "period": Budget.Period.MONTH, "amount_usd": Decimal("0.50")}  # fmt: skip
        fields.update(kwargs)
        return Budget.objects.create(project=self.project, **fields)

    def test_budgets_show_spend_percent_and_state(self):
        self.seed()
        self.make_budget()
        body = self.client.get("/p/acme/acme-agents/budgets/").content.decode()
        spend = spending.budget_status(Budget.objects.get()).spend
        assert f"<strong>${spend:.2f}</strong> of $0.50" in body
        assert "exceeded" in body or "warning" in body or "ok" in body

    def test_no_budgets_explains_what_they_do(self):
        body = self.client.get("/p/acme/acme-agents/budgets/").content.decode()
        assert "No budgets yet" in body
        assert "per-run caps" in body

    def test_a_runaway_run_alert_links_to_the_run(self):
        self.make_budget(run_cost_cap_usd=Decimal("1"), amount_usd=Decimal("1000"))
        items = agent_run(timezone.now() - timedelta(minutes=2), agent="planner", calls=[("gpt-4o", "3", 1.0)])
        ingest(self.project, items)
        body = self.client.get("/p/acme/acme-agents/alerts/").content.decode()
        assert "runaway run" in body
        assert f'href="/p/acme/acme-agents/runs/{items[0][0].trace_id}/"' in body
        assert "queued" in body

    def test_threshold_alerts_link_to_the_cost_explorer_and_page_with_htmx(self):
        budget = self.make_budget()
        for day in range(60):
            Alert.objects.create(budget=budget, period_start=midnight(day), threshold=Decimal(80), spend=Decimal("0.4"),
                                 amount=Decimal("0.5"), next_attempt_at=timezone.now(), sent_at=timezone.now())  # fmt: skip
        page = self.client.get("/p/acme/acme-agents/alerts/")
        body = page.content.decode()
        assert body.count("the cost</a>") == 50
        assert "&amp;agent=planner" in body
        older = self.client.get(
            "/p/acme/acme-agents/alerts/", {"page": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="past-alerts"
        ).content.decode()
        assert "<html" not in older
        assert older.count("the cost</a>") == 10

    def test_other_organizations_cannot_see_budgets(self):
        self.make_budget()
        rival, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("eve", organization=rival.organization))
        assert self.client.get("/p/acme/acme-agents/budgets/").status_code == 404
        assert self.client.get("/p/acme/acme-agents/alerts/").status_code == 404
