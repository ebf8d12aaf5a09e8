"""Cost at ingest, price overrides and repricing, through the real endpoints and commands."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import genai_prices
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import TestCase

from ingest import tasks
from ingest.models import Run, Span
from pricing.models import PriceOverride
from tests import otlp_payloads
from tests.factories import make_project


def llm_span(span_id: str, start: str, model: str = "my-private-llm", **extra):
    return {"trace_id": "run-1", "span_id": span_id, "parent_span_id": "root", "name": span_id, "kind": "llm",
            "provider": "", "model": model, "input_tokens": 1_000_000, "output_tokens": 500_000, "cache_read_tokens": 200_000,
            "start_time": start, "end_time": start, **extra}  # fmt: skip


ROOT = {
    "trace_id": "run-1",
    "span_id": "root",
    "name": "bot",
    "kind": "agent",
    "start_time": "2026-11-20T09:00:00Z",
    "end_time": "2026-11-20T12:00:00Z",
}


class CostTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project()

    def auth(self):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"}

    def ingest(self, *spans):
        response = self.client.post(
            "/api/v1/ingest", {"spans": [ROOT, *spans]}, content_type="application/json", **self.auth()
        )
        assert response.status_code == 200, response.content

    def add_override(self, **fields):
        body = {"model_pattern": "my-private-llm", "effective_from": "2026-11-20T10:00:00Z", "input_per_mtok": "2.00",
                "output_per_mtok": "8.00", "cache_read_per_mtok": "0.50", **fields}  # fmt: skip
        return self.client.post("/api/v1/price-overrides", body, content_type="application/json", **self.auth())


class PriceBookTests(CostTestCase):
    def test_openai_instrumentation_trace_costs_what_genai_prices_says(self):
        for path, body, content_type in otlp_payloads.exports("openinference_openai"):
            self.client.post(path, body, content_type=content_type, **self.auth())
        expected = Decimal(0)
        for span in Span.objects.filter(project=self.project, counts_usage=True):
            usage = genai_prices.Usage(input_tokens=span.input_tokens, output_tokens=span.output_tokens or 0,
                                       cache_read_tokens=span.cache_read_tokens or 0)  # fmt: skip
            price = genai_prices.calc_price(
                usage,
                span.response_model or span.request_model,
                provider_id="openai",
                genai_request_timestamp=span.start_time,
            )
            assert span.cost_usd == price.total_price.quantize(Decimal("1e-10")), span.name
            assert span.cost_source == "computed"
            expected += span.cost_usd
        run = Run.objects.get(project=self.project)
        assert run.cost_usd == expected > 0
        assert run.unpriced_calls == 0

    def test_cached_tokens_are_cheaper_than_fresh_input(self):
        self.ingest(llm_span("a", "2026-11-20T11:00:00Z", model="gpt-4o", provider="openai", cache_read_tokens=0),
                    llm_span("b", "2026-11-20T11:00:00Z", model="gpt-4o", provider="openai", cache_read_tokens=900_000))  # fmt: skip
        fresh, cached = (Span.objects.get(project=self.project, name=s).cost_usd for s in ("a", "b"))
        assert cached < fresh

    def test_unknown_model_is_unpriced_not_free(self):
        self.ingest(llm_span("a", "2026-11-20T11:00:00Z"))
        span = Span.objects.get(project=self.project, kind="llm")
        assert (span.cost_usd, span.cost_source) == (None, "unpriced")
        run = Run.objects.get(project=self.project)
        assert (run.cost_usd, run.unpriced_calls) == (None, 1)

    def test_reported_cost_wins_and_the_difference_is_recorded(self):
        self.ingest(llm_span("a", "2026-11-20T11:00:00Z", model="gpt-4o", provider="openai", cost_usd="1.00"))
        span = Span.objects.get(project=self.project, kind="llm")
        assert (span.cost_usd, span.cost_source) == (Decimal("1.00"), "reported")
        assert span.computed_cost > 1
        assert span.cost_discrepancy == Decimal("1.00") - span.computed_cost


class OverrideTests(CostTestCase):
    def test_override_prices_from_its_effective_date_on(self):
        assert self.add_override().status_code == 201
        self.ingest(llm_span("before", "2026-11-20T09:30:00Z"), llm_span("after", "2026-11-20T10:30:00Z"))
        before, after = (Span.objects.get(project=self.project, name=s) for s in ("before", "after"))
        assert (before.cost_usd, before.cost_source) == (None, "unpriced")
        # 800k uncached input at $2, 200k cache reads at $0.50, 500k output at $8 (per million)
        assert (after.cost_usd, after.cost_source) == (Decimal("5.7"), "override")
        assert after.price_ref.startswith("override #")

    def test_validation_names_the_field(self):
        response = self.add_override(input_per_mtok="-1")
        assert response.status_code == 400
        assert "input_per_mtok" in response.json()["errors"]

    def test_overrides_are_scoped_to_the_key_project(self):
        self.add_override()
        _, other_key = make_project("Other", org_slug="other")
        listed = self.client.get("/api/v1/price-overrides", HTTP_AUTHORIZATION=f"Bearer {other_key}").json()
        assert listed == []
        override = PriceOverride.objects.get(project=self.project)
        response = self.client.delete(
            f"/api/v1/price-overrides/{override.pk}", HTTP_AUTHORIZATION=f"Bearer {other_key}"
        )
        assert response.status_code == 404

    def test_admin_form_names_the_wrong_field(self):
        User.objects.create_superuser("root", "", "pw-for-tests-only")
        self.client.login(username="root", password="pw-for-tests-only")
        response = self.client.post("/admin/pricing/priceoverride/add/", {
            "project": self.project.pk, "model_pattern": "x", "provider": "", "effective_from_0": "2026-11-20",
            "effective_from_1": "10:00:00", "input_per_mtok": "-3", "output_per_mtok": "1"})  # fmt: skip
        assert response.status_code == 200
        assert "input_per_mtok" in response.context["adminform"].form.errors
        assert not PriceOverride.objects.exists()


class RepriceTests(CostTestCase):
    def reprice(self, *args):
        out = StringIO()
        call_command("reprice", *args, stdout=out)
        return out.getvalue()

    def test_reprice_after_an_override_updates_spans_and_runs_exactly_once(self):
        self.ingest(llm_span("a", "2026-11-20T10:30:00Z"), llm_span("b", "2026-11-20T11:30:00Z"))
        assert Run.objects.get(project=self.project).cost_usd is None
        with self.captureOnCommitCallbacks(execute=False):  # the background reprice is not run here
            self.add_override()
        assert "2 span(s) changed" in self.reprice("--project", str(self.project.pk))
        run = Run.objects.get(project=self.project)
        assert run.cost_usd == Decimal("11.4")
        assert run.unpriced_calls == 0
        assert "0 span(s) changed" in self.reprice()
        assert Run.objects.get(project=self.project).cost_usd == Decimal("11.4")

    def agent_cost_in_rollups(self) -> str:
        call_command("rollup", stdout=StringIO())
        response = self.client.get(
            "/api/v1/metrics/summary?group_by=agent&since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z",
            **self.auth(),
        )
        [row] = response.json()["rows"]
        return row["cost_usd"]

    def test_reprice_brings_rollup_totals_in_line_once(self):
        self.ingest(llm_span("a", "2026-11-20T10:30:00Z"), llm_span("b", "2026-11-20T11:30:00Z"))
        assert Decimal(self.agent_cost_in_rollups()) == 0
        with self.captureOnCommitCallbacks(execute=False):
            self.add_override()
        self.reprice()
        assert Decimal(self.agent_cost_in_rollups()) == Decimal("11.4")
        self.reprice()
        assert Decimal(self.agent_cost_in_rollups()) == Decimal("11.4")

    def test_reprice_since_and_model_filters(self):
        self.ingest(llm_span("a", "2026-11-20T10:30:00Z"), llm_span("b", "2026-11-20T11:30:00Z", model="other-llm"))
        with self.captureOnCommitCallbacks(execute=False):
            self.add_override(model_pattern="*-llm")
        assert "1 span(s) changed" in self.reprice("--model", "other-llm")
        assert "1 span(s) changed" in self.reprice("--since", "2026-11-20")

    def test_adding_an_override_queues_a_background_reprice_that_prices_the_spans(self):
        self.ingest(llm_span("a", "2026-11-20T10:30:00Z"))
        with self.captureOnCommitCallbacks() as callbacks:
            self.add_override()
        assert len(callbacks) == 1, "one reprice task is sent once the override is committed"
        tasks.reprice_project(self.project.pk, "2026-11-20T10:00:00+00:00")  # what the worker runs
        assert Span.objects.get(project=self.project, kind="llm").cost_source == "override"
