"""/api/v1/monitors: monitors managed with the project key (errors name the field and save nothing,
scoped to the key's project, documented in OpenAPI), their state, and the one-click templates."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client, TestCase

from budgets.monitors import evaluation
from budgets.monitors.models import Monitor
from budgets.monitors.templates import TEMPLATES
from tests.factories import make_project
from tests.ingest.spans import agent_run, ingest

# Two days ago at 15:00 UTC: recent enough for minute rows (AGENTLEDGER_MINUTE_RETENTION_DAYS).
NOW = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(15, 0), UTC)
VALID: dict[str, Any] = {
    "name": "Support bot failures",
    "metric": "failure_rate",
    "scope": "agent",
    "scope_value": "",
    "window_minutes": 5,
    "comparison": "above",
    "warning": "0.05",
    "critical": "0.2",
}


class MonitorsApiTests(TestCase):
    def setUp(self) -> None:
        self.project, key = make_project()
        self.api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        self.other, other_key = make_project("Other", org_slug="other")
        self.other_api = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")

    def post(self, data: dict[str, Any], client: Client | None = None) -> Any:
        return (client or self.api).post("/api/v1/monitors", data, content_type="application/json")

    def destination(self, client: Client | None = None) -> int:
        response = (client or self.api).post(
            "/api/v1/destinations",
            {"name": "#ops", "webhook_url": "https://hooks.slack.com/services/T0/B0/x"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    def test_create_list_retrieve_update_delete(self):
        ops = self.destination()
        response = self.post({**VALID, "destinations": [ops], "no_data": True, "min_volume": 20})
        assert response.status_code == 201, response.content
        body = response.json()
        assert {k: body[k] for k in (*VALID, "destinations", "no_data", "min_volume")} == {
            **VALID, "destinations": [ops], "no_data": True, "min_volume": 20,
        }  # fmt: skip
        assert (body["recovery_evaluations"], body["muted_until"], body["enabled"], body["state"]) == (
            2,
            None,
            True,
            "ok",
        )
        assert body["incidents"] == [] and "template" not in body

        url = f"/api/v1/monitors/{body['id']}"
        assert self.api.get(url).json() == body
        assert self.api.get("/api/v1/monitors").json() == [body]
        changed = self.api.patch(url, {"critical": "0.3", "muted_until": f"{NOW + timedelta(hours=9):%Y-%m-%dT%H:%M:%SZ}"},
                                 content_type="application/json")  # fmt: skip
        assert changed.status_code == 200, changed.content
        assert (changed.json()["critical"], changed.json()["warning"]) == ("0.3", "0.05")
        replaced = self.api.put(url, {**VALID, "name": "Renamed", "scope": "project"}, content_type="application/json")
        assert replaced.status_code == 200 and replaced.json()["name"] == "Renamed"
        assert self.api.delete(url).status_code == 204
        assert not Monitor.objects.exists()

    def test_the_state_shows_open_incidents_and_last_values(self):
        response = self.post({**VALID, "min_volume": 1})
        for i in range(4):
            ingest(self.project, agent_run(NOW - timedelta(minutes=2), agent="writer", failed=i < 3))
        ingest(self.project, agent_run(NOW - timedelta(minutes=2), agent="triage"))
        evaluation.evaluate_monitors(NOW)
        body = self.api.get(f"/api/v1/monitors/{response.json()['id']}").json()
        assert body["state"] == "critical"
        assert [(i["scope_value"], i["state"], i["last_value"], i["threshold"]) for i in body["incidents"]] == [
            ("writer", "critical", "0.75", "0.2")
        ]
        assert body["incidents"][0]["opened_at"] == f"{NOW:%Y-%m-%dT%H:%M:%SZ}"
        assert body["last_values"] == {"triage": "0", "writer": "0.75"}
        assert body["last_evaluated_at"] == f"{NOW:%Y-%m-%dT%H:%M:%SZ}"

    def bad(self, data: dict[str, Any], field: str) -> None:
        response = self.post(data)
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"], response.json()
        assert not Monitor.objects.exists()

    def test_every_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(self):
        self.bad({**VALID, "metric": "vibes"}, "metric")
        self.bad({**VALID, "window_minutes": 0}, "window_minutes")
        self.bad({**VALID, "window_minutes": 1441}, "window_minutes")
        self.bad({**VALID, "warning": "0.3"}, "warning")  # above: warning must be below critical
        self.bad({**VALID, "warning": "0.2"}, "warning")  # equal is not before it either
        self.bad({**VALID, "comparison": "below", "warning": "0.1"}, "warning")  # below: warning must be above
        self.bad({**VALID, "comparison": "sideways"}, "comparison")
        self.bad({**VALID, "metric": "tool_error_rate"}, "scope")  # per tool or project, not per agent
        self.bad({**VALID, "metric": "llm_error_rate", "scope": "user"}, "scope")
        self.bad({**VALID, "metric": "cost", "scope": "tool"}, "scope")
        self.bad({**VALID, "metric": "latency_p95", "scope": "model"}, "scope")
        self.bad({**VALID, "scope": "galaxy"}, "scope")
        self.bad({**VALID, "scope": "project", "scope_value": "writer"}, "scope_value")
        self.bad({**VALID, "metric": "score_mean"}, "score_name")
        self.bad({**VALID, "critical": None}, "critical")
        self.bad({**VALID, "recovery_evaluations": 0}, "recovery_evaluations")
        self.bad({**VALID, "destinations": [self.destination(self.other_api)]}, "destinations")
        self.bad({**VALID, "destinations": [999999]}, "destinations")
        self.bad({"template": "nope"}, "template")
        self.bad({**VALID, "template": {}}, "template")  # not a template id at all

    def test_a_bad_change_changes_nothing(self):
        url = f"/api/v1/monitors/{self.post(VALID).json()['id']}"
        response = self.api.patch(url, {"warning": "0.5"}, content_type="application/json")
        assert response.status_code == 400 and "warning" in response.json()["errors"]
        assert str(Monitor.objects.get().warning) == "0.050000"

    def test_a_key_sees_and_changes_only_its_own_projects_monitors(self):
        url = f"/api/v1/monitors/{self.post(VALID).json()['id']}"
        assert self.other_api.get("/api/v1/monitors").json() == []
        assert self.other_api.get(url).status_code == 404
        assert self.other_api.patch(url, {"name": "x"}, content_type="application/json").status_code == 404
        assert self.other_api.delete(url).status_code == 404
        assert Client().get("/api/v1/monitors").status_code in (401, 403)
        assert Monitor.objects.get().name == VALID["name"]

    def test_templates_are_listed_and_a_monitor_starts_from_one_with_overrides(self):
        listed = self.api.get("/api/v1/monitors/templates").json()
        assert [t["id"] for t in listed] == list(TEMPLATES)
        names = [t["name"] for t in listed]
        assert "Success rate below 99% over 5 minutes, each agent" in names
        response = self.post({"template": "provider-errors", "window_minutes": 10})
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["metric"], body["scope"], body["scope_value"], body["critical"], body["window_minutes"]) == (
            "llm_error_rate", "provider", "", "0.1", 10,
        )  # fmt: skip
        assert body["name"].startswith("Provider errors (429/5xx)")
        for template in TEMPLATES:  # each is a valid monitor as it stands
            assert self.post({"template": template}).status_code == 201

    def test_monitors_are_in_the_openapi_schema_and_the_admin(self):
        schema = Client().get("/api/schema/", {"format": "json"}).json()
        assert {"/api/v1/monitors", "/api/v1/monitors/{id}", "/api/v1/monitors/templates"} <= set(schema["paths"])
        monitor_id = self.post(VALID).json()["id"]
        admin = User.objects.create_superuser("root", password="x")
        self.client.force_login(admin)
        assert VALID["name"] in self.client.get("/admin/budgets/monitor/").content.decode()
        assert self.client.get(f"/admin/budgets/monitor/{monitor_id}/change/").status_code == 200
