"""POST/GET /api/v1/scores: a batch keeps its good items and names its bad ones, a re-sent score
replaces the one before it, and a key only ever sees and writes its own project's scores."""

from __future__ import annotations

from django.test import TestCase

from ingest.models import Run
from scores.models import Score
from tests.factories import make_project

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


class ScoresApiTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Acme agents", org_slug="acme")

    def post(self, body, key=None):
        return self.client.post(
            "/api/v1/scores", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key or self.key}"
        )

    def get(self, key=None, **params):
        response = self.client.get("/api/v1/scores", params, HTTP_AUTHORIZATION=f"Bearer {key or self.key}")
        assert response.status_code == 200, response.content
        return response.json()["results"]


class BatchTests(ScoresApiTestCase):
    def test_a_batch_with_one_bad_item_keeps_the_rest_and_names_the_bad_one(self):
        response = self.post(
            [
                {"trace_id": TRACE, "name": "helpfulness", "value": 0.8, "explanation": "answered the question"},
                {"trace_id": TRACE, "span_id": SPAN, "name": "grounded", "value": True},
                {"trace_id": TRACE, "name": "tone", "value": "very high"},
                {"trace_id": TRACE, "name": "topic", "label": "billing"},
            ]
        )

        assert response.status_code == 200, response.content
        assert response.json()["accepted"] == 3
        assert response.json()["rejected"] == [
            {"index": 2, "field": "value", "error": "must be a number or true/false"}
        ]
        shown = {s["name"]: (s["data_type"], s["value"], s["label"], s["span_id"]) for s in self.get(trace_id=TRACE)}
        assert shown == {
            "helpfulness": ("numeric", 0.8, "", ""),
            "grounded": ("boolean", 1.0, "", SPAN),
            "topic": ("categorical", None, "billing", ""),
        }

    def test_every_problem_of_an_item_is_named_by_index_and_field(self):
        response = self.post(
            {
                "scores": [
                    {"trace_id": TRACE, "name": "ok", "value": 1},
                    {"name": "", "value": 2},
                    {"trace_id": TRACE, "name": "verdict", "data_type": "boolean", "value": 0.5},
                    {"trace_id": TRACE, "name": "empty"},
                    "not a score",
                ]
            }
        )

        assert response.status_code == 200
        rejected = {(r["index"], r["field"]) for r in response.json()["rejected"]}
        assert rejected == {(1, "trace_id"), (1, "name"), (2, "value"), (3, "value"), (4, None)}
        assert [s["name"] for s in self.get()] == ["ok"]

    def test_a_batch_with_no_good_item_is_400_and_stores_nothing(self):
        response = self.post([{"trace_id": TRACE, "name": "helpfulness", "value": "NaN"}])

        assert response.status_code == 400
        assert response.json() == {
            "accepted": 0,
            "rejected": [{"index": 0, "field": "value", "error": "must be a number or true/false"}],
        }
        assert not Score.objects.exists()

    def test_a_body_that_is_not_a_list_of_scores_is_400(self):
        for body in ({"trace_id": TRACE, "name": "x", "value": 1}, [], 42):
            response = self.post(body)
            assert response.status_code == 400, body
            assert "body" in response.json()["errors"]

    def test_resending_a_score_replaces_it(self):
        first = {"trace_id": TRACE, "name": "helpfulness", "value": 0.4, "explanation": "vague"}
        assert self.post([first]).status_code == 200
        assert self.post([{**first, "value": 0.9, "explanation": "clear after the fix"}]).status_code == 200

        (score,) = self.get()
        assert (score["value"], score["explanation"]) == (0.9, "clear after the fix")
        assert score["updated_at"] >= score["created_at"]

    def test_the_same_score_twice_in_one_batch_is_stored_once_the_last_winning(self):
        response = self.post([{"trace_id": TRACE, "name": "tone", "value": v} for v in (1, 2, 3)])

        assert response.json()["accepted"] == 3
        assert [s["value"] for s in self.get()] == [3.0]

    def test_each_author_keeps_their_own_score(self):
        self.post([{"trace_id": TRACE, "name": "user_feedback", "value": True, "author": "end-user-1"}])
        self.post([{"trace_id": TRACE, "name": "user_feedback", "value": False, "author": "end-user-2"}])
        self.post([{"trace_id": TRACE, "name": "user_feedback", "value": False}])  # the key's prefix

        authors = {s["author"]: s["value"] for s in self.get(name="user_feedback")}
        assert authors == {"end-user-1": 1.0, "end-user-2": 0.0, self.key[:11]: 0.0}
        assert {s["source"] for s in self.get()} == {"api"}

    def test_a_score_may_arrive_before_its_run_and_uses_the_runs_trace_id(self):
        self.post([{"trace_id": "run-42", "name": "resolved", "value": True}])
        ingest = {
            "spans": [
                {"trace_id": "run-42", "span_id": "root", "name": "support-bot", "kind": "agent",
                 "start_time": "2026-11-23T10:00:00Z", "end_time": "2026-11-23T10:00:04Z"},
            ]
        }  # fmt: skip
        assert (
            self.client.post(
                "/api/v1/ingest", ingest, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.key}"
            ).status_code
            == 200
        )

        run = Run.objects.get(project=self.project)
        (score,) = self.get(trace_id="run-42")
        assert score["trace_id"] == run.trace_id


class ListTests(ScoresApiTestCase):
    def test_filters_by_name_source_author_and_time(self):
        self.post(
            [
                {"trace_id": TRACE, "name": "helpfulness", "value": 0.8, "author": "judge"},
                {"trace_id": TRACE, "name": "grounded", "value": False},
                {"trace_id": "1" * 32, "name": "helpfulness", "value": 0.2},
            ]
        )

        assert len(self.get(name="helpfulness")) == 2
        assert [s["author"] for s in self.get(name="helpfulness", trace_id=TRACE)] == ["judge"]
        assert len(self.get(source="api", since="today")) == 3
        assert self.get(source="annotation") == []
        assert self.get(until="2020-01-01") == []

    def test_pages_newest_first(self):
        for n in range(5):
            self.post([{"trace_id": TRACE, "name": f"check-{n}", "value": n}])

        first = self.client.get("/api/v1/scores?limit=2", HTTP_AUTHORIZATION=f"Bearer {self.key}").json()
        second = self.client.get(first["next"], HTTP_AUTHORIZATION=f"Bearer {self.key}").json()
        assert [s["name"] for s in first["results"] + second["results"]] == [
            "check-4",
            "check-3",
            "check-2",
            "check-1",
        ]

    def test_unknown_parameters_and_bad_values_are_400_naming_them(self):
        for query, param in (("colour=red", "colour"), ("source=robot", "source"), ("since=soon", "since")):
            response = self.client.get(f"/api/v1/scores?{query}", HTTP_AUTHORIZATION=f"Bearer {self.key}")
            assert response.status_code == 400, query
            assert param in response.json()["errors"]

    def test_the_openapi_schema_documents_both_operations(self):
        schema = self.client.get("/api/schema/?format=json").json()
        operations = schema["paths"]["/api/v1/scores"]
        assert {operations["get"]["operationId"], operations["post"]["operationId"]} == {"scores_list", "scores_create"}
        assert "ScoreIn" in schema["components"]["schemas"]


class IsolationTests(ScoresApiTestCase):
    def setUp(self):
        super().setUp()
        self.other, self.other_key = make_project("Rival", org_slug="rival")
        self.post([{"trace_id": TRACE, "name": "helpfulness", "value": 0.2}], key=self.other_key)

    def test_a_key_never_sees_another_projects_scores(self):
        assert self.get(trace_id=TRACE) == []
        response = self.client.get(f"/api/v1/scores?project={self.other.pk}", HTTP_AUTHORIZATION=f"Bearer {self.key}")
        assert response.status_code == 403

    def test_a_key_writes_only_into_its_own_project(self):
        self.post([{"trace_id": TRACE, "name": "helpfulness", "value": 0.9}])

        assert [s["value"] for s in self.get(key=self.other_key)] == [0.2]
        assert [s["value"] for s in self.get()] == [0.9]

    def test_without_a_valid_key_nothing_is_read_or_written(self):
        body = [{"trace_id": TRACE, "name": "helpfulness", "value": 1}]
        assert self.post(body, key="al_not-a-real-key").status_code in (401, 403)
        assert self.client.post("/api/v1/scores", body, content_type="application/json").status_code in (401, 403)
        assert self.client.get("/api/v1/scores").status_code in (401, 403)
        assert Score.objects.count() == 1
