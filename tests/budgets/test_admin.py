from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.test import TestCase
from django.utils import timezone

from budgets.models import Budget, Destination
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

SECRET_URL = "https://hooks.slack.com/services/T0/B0/abcdefSECRET"


class AdminTests(TestCase):
    def setUp(self) -> None:
        self.project, _ = make_project()
        self.client.force_login(User.objects.create_superuser("root", password="x"))

    def budget_form(self, **overrides: str) -> dict[str, str]:
        data = {
            "project": str(self.project.pk),
            "name": "Daily",
            "scope": "agent",
            "scope_value": "support-bot",
            "period": "day",
            "amount_usd": "10",
            "thresholds": "[80, 100]",
            "enabled": "on",
        }
        data.update(overrides)
        return data

    def test_the_list_shows_spend_percent_and_state(self):
        spend(self.project, timezone.now() - timedelta(minutes=1), "8.5")
        make_budget(self.project, name="warned")
        make_budget(self.project, name="fine", amount="100")
        response = self.client.get("/admin/budgets/budget/")
        assert response.status_code == 200
        content = response.content.decode()
        assert "$8.50" in content and "85.0%" in content and "warning" in content
        assert "8.5%" in content and ">ok<" in content

        warned = self.client.get("/admin/budgets/budget/", {"state": "warning"}).content.decode()
        assert "warned" in warned and ">fine<" not in warned
        by_scope = self.client.get("/admin/budgets/budget/", {"scope__exact": "model"}).content.decode()
        assert "warned" not in by_scope

    def test_validation_names_the_wrong_field(self):
        response = self.client.post(
            "/admin/budgets/budget/add/", self.budget_form(amount_usd="-5", thresholds="[80, 80]")
        )
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert set(errors) == {"amount_usd", "thresholds"}
        assert "once" in errors["thresholds"][0]

        response = self.client.post("/admin/budgets/budget/add/", self.budget_form(scope_value=""))
        assert set(response.context["adminform"].form.errors) == {"scope_value"}
        assert not Budget.objects.exists()

    def test_an_unknown_agent_is_saved_with_a_warning(self):
        response = self.client.post("/admin/budgets/budget/add/", self.budget_form(scope_value="nobody"), follow=True)
        assert Budget.objects.get().amount_usd == Decimal("10")
        assert "No run of an agent named “nobody”" in response.content.decode()

    def test_the_webhook_url_is_never_shown_back(self):
        response = self.client.post(
            "/admin/budgets/destination/add/",
            {"project": str(self.project.pk), "name": "#ops", "kind": "slack", "url": SECRET_URL},
        )
        assert response.status_code == 302
        destination = Destination.objects.get()
        for page in ("/admin/budgets/destination/", f"/admin/budgets/destination/{destination.pk}/change/"):
            content = self.client.get(page).content.decode()
            assert "abcdef" not in content
            assert "…CRET" in content

        self.client.post(  # saved again without typing the URL: it is kept
            f"/admin/budgets/destination/{destination.pk}/change/",
            {"project": str(self.project.pk), "name": "#ops-renamed", "kind": "slack", "url": ""},
        )
        destination.refresh_from_db()
        assert (destination.name, destination.url) == ("#ops-renamed", SECRET_URL)

    def test_send_test_message_action(self):
        slack: FakeSlack
        with fake_slack() as slack:
            destination = Destination.objects.create(project=self.project, name="#ops", url=slack.url())
            response = self.client.post(
                "/admin/budgets/destination/",
                {"action": "send_test_message", "_selected_action": [str(destination.pk)]},
                follow=True,
            )
        assert "test message sent" in response.content.decode()
        assert len(slack.received) == 1
