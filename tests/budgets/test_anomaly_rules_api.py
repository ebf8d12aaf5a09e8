"""/api/v1/anomaly-rules: anomaly rules managed with the project key, like budgets and destinations
(same auth, same errors naming the field, scoped to the key's project, documented in OpenAPI)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.test import Client, TestCase

from budgets.anomalies import services as anomaly_services
from budgets.delivery import outbox
from budgets.models import Alert, AnomalyRule, Destination
from tests.budgets.helpers import hourly_rollups
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)  # 14:00 is the last complete hour
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 8 days of history before 15:00
HOURS = 8 * 24


class AnomalyRulesApiTests(TestCase):
    def setUp(self) -> None:
        self.project, key = make_project()
        self.api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        self.other, other_key = make_project("Other", org_slug="other")
        self.other_api = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")

    def post(self, path: str, data: dict[str, object], client: Client | None = None):
        return (client or self.api).post(path, data, content_type="application/json")

    def destination(self, name: str = "#ops", url: str = "https://hooks.slack.com/services/T0/B0/x") -> int:
        response = self.post("/api/v1/destinations", {"name": name, "webhook_url": url})
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    def test_create_list_retrieve_update_delete(self):
        ops = self.destination()
        response = self.post(
            "/api/v1/anomaly-rules",
            {"metric": "cost", "scope": "agent", "scope_value": "support-bot", "sensitivity": 4.5, "sustained": 2,
             "destinations": [ops]},
        )  # fmt: skip
        assert response.status_code == 201, response.content
        body = response.json()
        assert {k: body[k] for k in ("metric", "scope", "scope_value", "sensitivity", "sustained", "destinations")} == {
            "metric": "cost",
            "scope": "agent",
            "scope_value": "support-bot",
            "sensitivity": 4.5,
            "sustained": 2,
            "destinations": [ops],
        }
        assert (body["enabled"], body["floor"], body["min_volume"], body["score_name"]) == (True, None, None, "")
        assert body["created_at"]

        url = f"/api/v1/anomaly-rules/{body['id']}"
        assert self.api.get(url).json() == body
        listed = self.api.get("/api/v1/anomaly-rules").json()
        assert body in listed

        response = self.api.patch(url, {"sensitivity": 6, "enabled": False}, content_type="application/json")
        assert response.status_code == 200, response.content
        rule = AnomalyRule.objects.get(pk=body["id"])
        assert (rule.sensitivity, rule.enabled, list(rule.destinations.values_list("pk", flat=True))) == (
            6,
            False,
            [ops],
        )

        response = self.api.put(
            url, {"metric": "tool_error_rate", "scope": "tool", "scope_value": "", "destinations": []},
            content_type="application/json",
        )  # fmt: skip
        assert response.status_code == 200, response.content
        rule.refresh_from_db()
        assert (rule.metric, rule.scope, rule.scope_value) == ("tool_error_rate", "tool", "")
        assert not rule.destinations.exists()  # none chosen: every destination of the project

        assert self.api.delete(url).status_code == 204
        assert not AnomalyRule.objects.filter(pk=body["id"]).exists()
        assert self.api.get(url).status_code == 404
        assert body["id"] not in [r["id"] for r in self.api.get("/api/v1/anomaly-rules").json()]

    def test_a_projects_first_rule_comes_with_the_default_rules(self):
        """Detection gives a project without rules the defaults; a rule added first must not
        leave the project watched by that one rule only."""
        response = self.post("/api/v1/anomaly-rules", {"metric": "score_mean", "score_name": "grounded"})
        assert response.status_code == 201, response.content
        listed = self.api.get("/api/v1/anomaly-rules").json()
        assert sorted((r["metric"], r["scope"]) for r in listed if r["metric"] != "score_mean") == sorted(
            anomaly_services.DEFAULT_RULES
        )
        assert len(listed) == len(anomaly_services.DEFAULT_RULES) + 1
        self.post("/api/v1/anomaly-rules", {"metric": "runs", "scope": "project"})
        assert AnomalyRule.objects.filter(project=self.project).count() == len(anomaly_services.DEFAULT_RULES) + 2

    def test_another_projects_rule_is_not_found_and_not_changed(self):
        theirs = AnomalyRule.objects.create(project=self.other, metric="cost", scope="agent")
        url = f"/api/v1/anomaly-rules/{theirs.pk}"
        assert self.api.get(url).status_code == 404
        for method in ("patch", "put", "delete"):
            response = getattr(self.api, method)(
                url, {"sensitivity": 9, "metric": "cost"}, content_type="application/json"
            )
            assert response.status_code == 404, (method, response.status_code)
        theirs.refresh_from_db()
        assert theirs.sensitivity == 3.0
        assert self.api.get("/api/v1/anomaly-rules").json() == []
        assert [r["id"] for r in self.other_api.get("/api/v1/anomaly-rules").json()] == [theirs.pk]

    def test_without_a_project_key_nothing_is_read_or_written(self):
        anonymous = Client()
        assert anonymous.get("/api/v1/anomaly-rules").status_code in (401, 403)
        response = anonymous.post("/api/v1/anomaly-rules", {"metric": "cost"}, content_type="application/json")
        assert response.status_code in (401, 403)
        bad_key = Client(HTTP_AUTHORIZATION="Bearer al_not-a-key")
        assert bad_key.get("/api/v1/anomaly-rules").status_code in (401, 403)
        assert not AnomalyRule.objects.exists()

    def test_errors_name_the_field_and_save_nothing(self):
        cases: list[tuple[dict[str, object], set[str]]] = [
            ({"scope": "agent"}, {"metric"}),
            ({"metric": "vibes"}, {"metric"}),
            ({"metric": "cost", "scope": "galaxy"}, {"scope"}),
            ({"metric": "cost", "sensitivity": 0.1}, {"sensitivity"}),
            ({"metric": "cost", "sensitivity": "high"}, {"sensitivity"}),
            ({"metric": "cost", "sustained": 0}, {"sustained"}),
            ({"metric": "cost", "min_volume": -1}, {"min_volume"}),
            ({"metric": "cost", "scope": "project", "scope_value": "support-bot"}, {"scope_value"}),
            ({"metric": "score_pass_rate"}, {"score_name"}),
            ({"metric": "cost", "floor": 0.9}, {"floor"}),
            ({"metric": "cost", "score_name": "grounded"}, {"score_name"}),
            ({"metric": "tool_error_rate", "scope": "agent"}, {"scope"}),
            ({"metric": "cost", "scope": "tool"}, {"scope"}),
            ({"metric": "cost", "destinations": [999999]}, {"destinations"}),
            ({"metric": "cost", "destinations": "all"}, {"destinations"}),
        ]
        for data, fields in cases:
            response = self.post("/api/v1/anomaly-rules", data)
            assert response.status_code == 400, (data, response.content)
            assert set(response.json()["errors"]) == fields, (data, response.json())
        assert not AnomalyRule.objects.exists()

    def test_a_rule_may_name_only_its_own_projects_destinations(self):
        theirs = Destination.objects.create(project=self.other, name="#theirs", url="https://x.test/h")
        response = self.post("/api/v1/anomaly-rules", {"metric": "cost", "destinations": [theirs.pk]})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"destinations"}
        assert not AnomalyRule.objects.exists()

        rule = self.post("/api/v1/anomaly-rules", {"metric": "cost", "destinations": [self.destination()]}).json()
        url = f"/api/v1/anomaly-rules/{rule['id']}"
        response = self.api.patch(url, {"destinations": [theirs.pk], "sensitivity": 5}, content_type="application/json")
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"destinations"}
        saved = AnomalyRule.objects.get(pk=rule["id"])
        assert (saved.sensitivity, list(saved.destinations.values_list("pk", flat=True))) == (3.0, rule["destinations"])

        response = self.api.patch(url, {"metric": "score_mean"}, content_type="application/json")  # no score name
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"score_name"}
        assert AnomalyRule.objects.get(pk=rule["id"]).metric == "cost"

    def test_the_destinations_chosen_here_are_the_ones_told(self):
        """The default cost rule, pointed at one of two destinations through the API: its spike alert
        reaches that one only."""
        ops: FakeSlack = self.enterContext(fake_slack())
        everyone: FakeSlack = self.enterContext(fake_slack())
        ops_id = self.destination("#ops", ops.url())
        self.destination("#everyone", everyone.url())
        hourly_rollups(self.project, START, HOURS, cost=lambda i: 25.0 if i == HOURS - 1 else 2.0)
        anomaly_services.ensure_default_rules(self.project)
        cost_rule = next(r for r in self.api.get("/api/v1/anomaly-rules").json() if r["metric"] == "cost")
        response = self.api.patch(
            f"/api/v1/anomaly-rules/{cost_rule['id']}", {"destinations": [ops_id]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content

        assert anomaly_services.detect_anomalies(now=NOW) == 1
        assert outbox.deliver_due_alerts(NOW) == 1
        assert len(ops.received) == 1 and "Cost per hour" in ops.received[0].json["text"]
        assert everyone.received == []
        assert Alert.objects.get().sent_at == NOW

    def test_a_rule_disabled_here_raises_nothing(self):
        hourly_rollups(self.project, START, HOURS, cost=lambda i: 25.0 if i == HOURS - 1 else 2.0)
        anomaly_services.ensure_default_rules(self.project)
        cost_rule = next(r for r in self.api.get("/api/v1/anomaly-rules").json() if r["metric"] == "cost")
        url = f"/api/v1/anomaly-rules/{cost_rule['id']}"
        assert self.api.patch(url, {"enabled": False}, content_type="application/json").status_code == 200
        assert anomaly_services.detect_anomalies(now=NOW) == 0
        assert self.api.patch(url, {"enabled": True}, content_type="application/json").status_code == 200
        assert anomaly_services.detect_anomalies(now=NOW) == 1


class AnomalyRulesSchemaTests(TestCase):
    def test_the_operations_are_documented(self):
        response = Client().get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        schema = response.json()
        paths = schema["paths"]
        assert set(paths["/api/v1/anomaly-rules"]) >= {"get", "post"}
        assert set(paths["/api/v1/anomaly-rules/{id}"]) >= {"get", "put", "patch", "delete"}
        operation = paths["/api/v1/anomaly-rules"]["post"]
        assert operation["summary"] == "Add an anomaly rule"
        assert "201" in operation["responses"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        properties = schema["components"]["schemas"][ref]["properties"]
        assert {"metric", "scope", "scope_value", "score_name", "floor", "sensitivity", "sustained", "min_volume",
                "destinations", "enabled"} <= set(properties)  # fmt: skip
