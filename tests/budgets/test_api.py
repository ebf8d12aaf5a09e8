from __future__ import annotations

from datetime import timedelta

from django.test import Client, TestCase
from django.utils import timezone

from budgets.models import Budget, Destination
from tenancy.models import ApiKey
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project

SECRET_URL = "https://hooks.slack.com/services/T0/B0/abcdefSECRET"


class BudgetsApiTests(TestCase):
    def setUp(self) -> None:
        self.project, key = make_project()
        self.api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        self.other, other_key = make_project("Other", org_slug="other")
        self.other_api = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")

    def post(self, path: str, data: dict[str, object], client: Client | None = None):
        return (client or self.api).post(path, data, content_type="application/json")

    def test_budget_crud(self):
        destination = self.post("/api/v1/destinations", {"name": "#ops", "webhook_url": SECRET_URL}).json()
        response = self.post(
            "/api/v1/budgets",
            {"name": "Bot", "scope": "agent", "scope_value": "support-bot", "period": "week", "amount_usd": "25.50",
             "destinations": [destination["id"]]},
        )  # fmt: skip
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["amount_usd"], body["thresholds"], body["destinations"]) == (
            "25.50",
            [80, 100],
            [destination["id"]],
        )

        url = f"/api/v1/budgets/{body['id']}"
        response = self.api.patch(
            url, {"amount_usd": "30", "thresholds": [50, 90, 100]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        assert Budget.objects.get().thresholds == [50, 90, 100]
        assert self.api.get("/api/v1/budgets").json()[0]["amount_usd"] == "30.00"
        assert self.other_api.get(url).status_code == 404
        assert self.other_api.get("/api/v1/budgets").json() == []
        assert self.api.delete(url).status_code == 204
        assert not Budget.objects.exists()

    def test_errors_name_the_field(self):
        response = self.post("/api/v1/budgets", {"name": "x", "amount_usd": "-1", "thresholds": [80, 80]})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"amount_usd", "thresholds"}
        response = self.post("/api/v1/budgets", {"name": "x", "scope": "user", "amount_usd": "1"})
        assert set(response.json()["errors"]) == {"scope_value"}
        theirs = Destination.objects.create(project=self.other, name="x", url=SECRET_URL)
        response = self.post("/api/v1/budgets", {"name": "x", "amount_usd": "1", "destinations": [theirs.pk]})
        assert set(response.json()["errors"]) == {"destinations"}
        assert not Budget.objects.exists()

    def test_destinations_never_show_the_url(self):
        response = self.post("/api/v1/destinations", {"name": "#ops", "webhook_url": SECRET_URL})
        assert response.status_code == 201
        assert "abcdef" not in response.content.decode()
        listed = self.api.get("/api/v1/destinations").json()
        assert listed[0]["masked_url"] == "https://hooks.slack.com/…CRET"
        assert "webhook_url" not in listed[0]
        response = self.post("/api/v1/destinations", {"name": "bad", "webhook_url": "ftp://example.com/x"})
        assert set(response.json()["errors"]) == {"webhook_url"}

    def test_check_says_which_applicable_budget_is_exceeded_and_what_remains(self):
        spend(self.project, timezone.now() - timedelta(minutes=1), "12", agent="support-bot", user="alice")
        exceeded = make_budget(self.project, amount="10")
        roomy = make_budget(self.project, name="Everything", scope="project", scope_value="", amount="100")
        make_budget(self.project, name="Other agent", scope_value="other-bot")
        key = ApiKey.objects.get(project=self.project)
        make_budget(self.project, name="This key", scope="api_key", scope_value=key.prefix, amount="50")

        body = self.api.get("/api/v1/budgets/check", {"agent": "support-bot", "user": "alice"}).json()
        assert body["exceeded"] is True
        rows = {r["name"]: r for r in body["budgets"]}
        assert set(rows) == {exceeded.name, roomy.name, "This key"}
        assert (rows[exceeded.name]["state"], rows[exceeded.name]["remaining_usd"]) == ("exceeded", "0")
        assert (rows["Everything"]["spend_usd"], rows["Everything"]["remaining_usd"]) == ("12", "88")
        assert rows["This key"]["percent_used"] == 24.0

        body = self.api.get("/api/v1/budgets/check", {"agent": "other-bot"}).json()
        assert body["exceeded"] is False
        assert self.other_api.get("/api/v1/budgets/check").json() == {"exceeded": False, "budgets": []}
        assert Client().get("/api/v1/budgets/check").status_code in (401, 403)


class SchemaTests(TestCase):
    def test_the_budget_endpoints_are_documented(self):
        response = Client().get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        paths = response.json()["paths"]
        for path in ("/api/v1/budgets", "/api/v1/budgets/{id}", "/api/v1/budgets/check", "/api/v1/destinations"):
            assert path in paths, path
        assert "webhook_url" not in str(paths["/api/v1/destinations"]["get"]["responses"])
