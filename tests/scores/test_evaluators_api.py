"""/api/v1/evaluators: CRUD with the project key, errors that name the field, a judge key that is
never shown back, and a key that only ever sees its own project's evaluators."""

from __future__ import annotations

from decimal import Decimal

from django.test import TestCase, override_settings
from django.utils import timezone

from scores.models import Evaluation, Evaluator
from tests.factories import make_project
from tests.scores.judging import RUBRIC

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz-1234"


class EvaluatorsApiTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Support", org_slug="acme")

    def call(self, method, path="/api/v1/evaluators", body=None, key=None):
        return getattr(self.client, method)(
            path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key or self.key}"
        )

    def create(self, **fields):
        body = {"name": "grounded", "rubric": RUBRIC, "judge_model": "gpt-4o-mini", **fields}
        response = self.call("post", body=body)
        assert response.status_code == 201, response.content
        return response.json()


class CrudTests(EvaluatorsApiTestCase):
    def test_create_with_defaults_then_read_it_back(self):
        created = self.create(agent_name="support-bot", api_key=SECRET)

        assert created["id"] == Evaluator.objects.get().pk
        assert {k: created[k] for k in ("enabled", "run_status", "sample_rate", "verdict_type", "daily_cap_usd")} == {
            "enabled": True, "run_status": "any", "sample_rate": "100.00", "verdict_type": "binary",
            "daily_cap_usd": "1.000000",
        }  # fmt: skip
        assert created["spend_today_usd"] == "0"
        assert self.call("get", f"/api/v1/evaluators/{created['id']}").json() == created
        assert self.call("get").json() == [created]

    def test_the_judge_key_is_write_only_and_shown_masked(self):
        created = self.create(api_key=SECRET)
        assert "api_key" not in created
        assert created["masked_api_key"] == "sk-…1234"
        listed = self.call("get").content.decode()
        assert SECRET not in listed and "abcdefghijklmnop" not in listed

        changed = self.call("patch", f"/api/v1/evaluators/{created['id']}", {"sample_rate": "12.5"})
        assert changed.status_code == 200, changed.content
        assert changed.json()["sample_rate"] == "12.50"
        assert Evaluator.objects.get().api_key == SECRET, "left out of a change, the key is kept"

        removed = self.call("patch", f"/api/v1/evaluators/{created['id']}", {"api_key": ""})
        assert removed.json()["masked_api_key"] == ""
        assert Evaluator.objects.get().api_key == ""

    def test_put_replaces_and_delete_removes_with_its_evaluations(self):
        created = self.create()
        evaluator = Evaluator.objects.get()
        Evaluation.objects.create(project=self.project, evaluator=evaluator, trace_id="a" * 32)
        body = {"name": "grounded", "rubric": "{{ output }}", "judge_model": "gpt-4o", "verdict_type": "scale"}
        response = self.call("put", f"/api/v1/evaluators/{created['id']}", body)
        assert response.status_code == 200, response.content
        assert (response.json()["judge_model"], response.json()["verdict_type"]) == ("gpt-4o", "scale")

        assert self.call("delete", f"/api/v1/evaluators/{created['id']}").status_code == 204
        assert not Evaluator.objects.exists()
        assert not Evaluation.objects.exists()


class ValidationTests(EvaluatorsApiTestCase):
    def errors(self, **fields):
        body = {"name": "grounded", "rubric": RUBRIC, "judge_model": "gpt-4o-mini", **fields}
        response = self.call("post", body=body)
        assert response.status_code == 400, response.content
        return response.json()["errors"]

    def test_each_bad_value_names_its_field(self):
        assert self.errors(sample_rate="100.5") == {"sample_rate": ["Ensure this value is less than or equal to 100."]}
        assert self.errors(sample_rate=-1) == {"sample_rate": ["Ensure this value is greater than or equal to 0."]}
        assert self.errors(daily_cap_usd="-0.01") == {
            "daily_cap_usd": ["Ensure this value is greater than or equal to 0."]
        }
        assert self.errors(verdict_type="stars") == {"verdict_type": ['"stars" is not a valid choice.']}
        assert self.errors(run_status="maybe") == {"run_status": ['"maybe" is not a valid choice.']}
        assert self.errors(base_url="ftp://judge.example") == {"base_url": ["Enter a valid URL."]}
        assert self.errors(min_run_cost_usd="-1") == {
            "min_run_cost_usd": ["Ensure this value is greater than or equal to 0."]
        }

    def test_a_bad_rubric_is_named_with_the_template_error(self):
        errors = self.errors(rubric="Grade {% if output %}{{ output }}")
        assert list(errors) == ["rubric"]
        assert errors["rubric"][0].startswith("template syntax: Unclosed tag on line 1: 'if'")
        assert self.errors(rubric="Is it good?") == {
            "rubric": ["use at least one of {{ input }}, {{ output }}, {{ tool_calls }} or {{ run }}"]
        }
        assert self.errors(rubric="{{ output|center:'99999999' }}")["rubric"][0].startswith(
            "template syntax: Invalid filter: 'center'"
        )

    def test_missing_fields_and_a_duplicate_name(self):
        response = self.call("post", body={"name": "x"})
        assert set(response.json()["errors"]) == {"rubric", "judge_model"}
        self.create()
        assert self.errors() == {"name": ["this project already has an evaluator with this name"]}

    @override_settings(AGENTLEDGER_JUDGE_ALLOWED_HOSTS=["api.openai.com"])
    def test_the_judge_host_can_be_restricted(self):
        assert self.errors(base_url="http://169.254.169.254/v1") == {
            "base_url": ["this host is not in AGENTLEDGER_JUDGE_ALLOWED_HOSTS: api.openai.com"]
        }
        self.create(base_url="https://api.openai.com/v1")


class IsolationTests(EvaluatorsApiTestCase):
    def test_a_key_sees_and_changes_only_its_own_projects_evaluators(self):
        created = self.create()
        _, other_key = make_project("Other", org_slug="other")
        assert self.call("get", key=other_key).json() == []
        url = f"/api/v1/evaluators/{created['id']}"
        assert self.call("get", url, key=other_key).status_code == 404
        assert self.call("patch", url, {"enabled": False}, key=other_key).status_code == 404
        assert self.call("delete", url, key=other_key).status_code == 404
        assert Evaluator.objects.get().enabled is True

    def test_no_key_no_access(self):
        assert self.client.get("/api/v1/evaluators").status_code == 401
        assert self.call("get", key="al_nope").status_code == 401

    def test_the_endpoints_are_in_the_openapi_schema(self):
        schema = self.client.get("/api/schema/", {"format": "json"}).json()
        assert {"get", "post"} <= set(schema["paths"]["/api/v1/evaluators"])
        assert {"get", "put", "patch", "delete"} <= set(schema["paths"]["/api/v1/evaluators/{id}"])
        properties = schema["components"]["schemas"]["Evaluator"]["properties"]
        assert properties["api_key"]["writeOnly"] is True
        assert properties["masked_api_key"]["readOnly"] is True


class SpendTests(EvaluatorsApiTestCase):
    def test_today_spend_is_shown(self):
        created = self.create()
        evaluator = Evaluator.objects.get()
        for cost in ("0.00027", "0.00031"):
            Evaluation.objects.create(
                project=self.project, evaluator=evaluator, trace_id=cost.ljust(32, "0"), status="done",
                cost_usd=Decimal(cost), finished_at=timezone.now(),
            )  # fmt: skip
        assert self.call("get", f"/api/v1/evaluators/{created['id']}").json()["spend_today_usd"] == "0.00058"
