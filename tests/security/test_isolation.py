"""Project isolation over every route: the routes are read from the URL configuration, so a page or
API added later is covered (or fails here until its parameters are known). Project A holds a run,
a session, a user, a tool, a score, a budget, a destination, an evaluator, a price override and
an anomaly alert; project B's key and another organization's user must neither see nor change
any of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.test import TestCase
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from budgets.anomalies import services as anomaly_services
from budgets.models import Alert, AnomalyRule, Budget, Destination
from budgets.monitors.models import Monitor
from ingest import timeranges
from ingest.models import Run, Span
from pricing.models import PriceOverride
from scores.models import Score
from tests.budgets.helpers import hourly_rollups, make_budget
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest
from tests.scores.judging import make_evaluator

SECRET = "zebra-secret-agent"  # A's agent, user, session and tool names all carry it


def routes() -> list[str]:
    """Every route of the site as a pattern string (admin aside: it is staff-only)."""
    found: list[str] = []

    def walk(resolver: URLResolver, prefix: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                if not str(entry.pattern).startswith("admin/"):
                    walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append(prefix + str(entry.pattern))

    walk(get_resolver(), "")
    return found


class IsolationTests(TestCase):
    def setUp(self):
        self.a, _ = make_project("Alpha", org_slug="alpha")
        self.b, self.b_key = make_project("Beta", org_slug="beta")
        self.outsider = make_user("bob", organization=self.b.organization)
        start = timezone.now() - timedelta(hours=2)
        items = agent_run(start, agent=SECRET, user=f"{SECRET}-user", tools=[(f"{SECRET}-tool", True, 0.5)])
        for _, fields in items:
            fields.session_id = f"{SECRET}-session"
        ingest(self.a, items)
        self.run = Run.objects.get(project=self.a)
        Score.objects.create(project=self.a, trace_id=self.run.trace_id, name=f"{SECRET}-score", value=1.0, data_type="numeric",
                             source="api", author="tests")  # fmt: skip
        self.budget = make_budget(self.a, name=f"{SECRET} budget", scope=Budget.Scope.PROJECT, scope_value="")
        self.destination = Destination.objects.create(project=self.a, name=f"#{SECRET}", url="https://hooks.slack.com/services/T/B/alpha")  # fmt: skip
        self.evaluator = make_evaluator(self.a, name=f"{SECRET}-judge")
        self.override = PriceOverride.objects.create(project=self.a, model_pattern=f"{SECRET}-model",
                                                     effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                                                     input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))  # fmt: skip
        spike = timeranges.floor_hour(timezone.now()) - timedelta(hours=1)
        hourly_rollups(
            self.a, spike - timedelta(hours=8 * 24 - 1), 8 * 24, cost=lambda i: 25.0 if i == 8 * 24 - 1 else 2.0
        )
        anomaly_services.detect_anomalies(now=timezone.now())
        self.anomaly = Alert.objects.get(kind="anomaly", anomaly_rule__project=self.a)
        self.monitor = Monitor.objects.create(project=self.a, name=f"{SECRET} monitor", metric="failure_rate", scope="agent",
                                              critical=Decimal("0.05"))  # fmt: skip
        self.values = {
            "org": self.a.organization.slug,
            "slug": self.a.slug,
            "trace_id": self.run.trace_id,
            "session_id": f"{SECRET}-session",
            "user_id": f"{SECRET}-user",
            "tool_name": f"{SECRET}-tool",
            "alert_id": str(self.anomaly.pk),
            "monitor_id": str(self.monitor.pk),
        }

    def fill(self, route: str, ids: dict[str, object]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in ids, f"{route}: no value for <{name}>; add one to this test"
            return str(ids[name])

        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)

    def test_another_organizations_user_gets_404_on_every_project_page(self):
        self.client.force_login(self.outsider)
        pages = [r for r in routes() if r.startswith("p/<slug:org>/<slug:slug>/")]
        assert len(pages) >= 15
        for route in pages:
            url = self.fill(route, self.values)
            response = self.client.get(url)
            if response.status_code == 405:  # a form's target
                response = self.client.post(url, {"value": "1", "name": "x"})
            assert response.status_code == 404, (url, response.status_code)
            assert SECRET not in response.content.decode(), url

    def test_a_member_sees_them(self):
        """The same URLs answer for A's own member, so the 404s above are isolation, not broken URLs."""
        self.client.force_login(make_user("ann", organization=self.a.organization))
        for route in (r for r in routes() if r.startswith("p/<slug:org>/<slug:slug>/")):
            url = self.fill(route, self.values)
            status = self.client.get(url).status_code
            assert status == 200 or (status == 405 and self.client.post(url, {}).status_code != 404), url

    def api_routes(self) -> list[str]:
        return [r for r in routes() if r.startswith("api/v1/")]

    def test_another_projects_key_reads_nothing_of_this_project(self):
        ids = {"trace_id": self.run.trace_id, "pk": 0}
        auth = {"HTTP_AUTHORIZATION": f"Bearer {self.b_key}"}
        params = {"api/v1/metrics/summary": {"since": "30d"}, "api/v1/metrics/timeseries": {"since": "30d", "metric": "cost"},
                  "api/v1/runs": {"since": "30d"}}  # fmt: skip
        for route in self.api_routes():
            pks = {"budgets": self.budget.pk, "destinations": self.destination.pk,
                   "evaluators": self.evaluator.pk, "price-overrides": self.override.pk,
                   "anomaly-rules": self.anomaly.anomaly_rule_id, "monitors": self.monitor.pk}  # fmt: skip
            resource = route.split("/")[2]
            url = self.fill(route, {**ids, "pk": pks.get(resource, 0)})
            response = self.client.get(url, params.get(route, {}), **auth)
            assert response.status_code in (200, 404, 405), (url, response.status_code, response.content[:300])
            body = response.content.decode()
            assert SECRET not in body and self.run.trace_id not in body, url
            if "<" in route:
                assert response.status_code in (404, 405), url

    def test_another_projects_key_changes_nothing_of_this_project(self):
        auth = {"HTTP_AUTHORIZATION": f"Bearer {self.b_key}"}
        targets = {
            f"/api/v1/budgets/{self.budget.pk}": Budget.objects.filter(pk=self.budget.pk),
            f"/api/v1/destinations/{self.destination.pk}": Destination.objects.filter(pk=self.destination.pk),
            f"/api/v1/evaluators/{self.evaluator.pk}": self.a.evaluators.filter(pk=self.evaluator.pk),
            f"/api/v1/price-overrides/{self.override.pk}": PriceOverride.objects.filter(pk=self.override.pk),
            f"/api/v1/anomaly-rules/{self.anomaly.anomaly_rule_id}": AnomalyRule.objects.filter(
                pk=self.anomaly.anomaly_rule_id
            ),
            f"/api/v1/monitors/{self.monitor.pk}": Monitor.objects.filter(pk=self.monitor.pk),
        }
        for url, rows in targets.items():
            before = list(rows.values())
            for method in ("patch", "put", "delete"):
                response = getattr(self.client, method)(url, {"name": "taken"}, content_type="application/json", **auth)
                assert response.status_code in (404, 405), (method, url, response.status_code)
            assert list(rows.values()) == before, url

        spans_before = Span.objects.filter(project=self.a).count()
        score = {"trace_id": self.run.trace_id, "name": "hijack", "value": 0}
        response = self.client.post("/api/v1/scores", {"scores": [score]}, content_type="application/json", **auth)
        assert response.status_code == 200  # a score may arrive before its run: it is B's, for B's trace
        assert not Score.objects.filter(project=self.a, name="hijack").exists()
        span = {"trace_id": self.run.trace_id, "span_id": "intruder", "name": "x", "kind": "llm",
                "start_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-01T00:00:01Z", "cost_usd": "99"}  # fmt: skip
        response = self.client.post("/api/v1/ingest", {"spans": [span]}, content_type="application/json", **auth)
        assert response.status_code == 200
        assert Span.objects.filter(project=self.a).count() == spans_before  # it went to B's own run
        self.run.refresh_from_db()
        assert self.run.cost_usd < 99
        assert Span.objects.filter(project=self.b, trace_id=self.run.trace_id).exists(), response.content
