"""Per-run caps: a runaway run alerts as its spans arrive, once per budget, cap and run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.test import TestCase
from django.utils import timezone

from budgets import evaluation
from budgets.delivery import outbox
from budgets.models import Alert
from tests.budgets.helpers import make_budget
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack
from tests.ingest.spans import agent_run, ingest, new_span_id, span


class RunCapTests(TestCase):
    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        self.start = timezone.now() - timedelta(minutes=5)

    def run_alerts(self):
        return list(Alert.objects.exclude(kind=Alert.Kind.THRESHOLD).order_by("pk"))

    def test_a_span_in_a_later_batch_that_crosses_the_cap_alerts_at_ingest(self):
        make_budget(self.project, "1000", run_cost_cap_usd=Decimal("2.00"))
        first = agent_run(self.start, agent="support-bot", calls=[("gpt-test", "1.50", 1.0)])
        ingest(self.project, first)
        assert self.run_alerts() == []
        trace_id, root = first[0][0].trace_id, first[0][0].span_id
        later = span(trace_id, parent=root, start=self.start + timedelta(seconds=30), model="gpt-test",
                     cost="0.75", agent="support-bot", span_id=new_span_id())  # fmt: skip
        ingest(self.project, [later])  # no rollup pass in between
        (alert,) = self.run_alerts()
        assert (alert.kind, alert.trace_id, alert.spend, alert.amount) == (
            Alert.Kind.RUN_COST,
            trace_id,
            Decimal("2.25"),
            Decimal("2.00"),
        )

    def test_the_same_run_alerts_once_however_often_it_grows(self):
        make_budget(self.project, "1000", run_cost_cap_usd=Decimal("1"))
        items = agent_run(self.start, calls=[("gpt-test", "3", 1.0)])
        ingest(self.project, items)
        trace_id, root = items[0][0].trace_id, items[0][0].span_id
        ingest(self.project, [span(trace_id, parent=root, start=self.start, model="gpt-test", cost="5")])
        evaluation.evaluate_budgets(self.project)  # the rollup-pass backstop finds it too
        assert len(self.run_alerts()) == 1

    def test_tool_call_cap_catches_a_loop_of_cheap_calls(self):
        make_budget(self.project, "1000", run_tool_call_cap=20)
        ingest(self.project, agent_run(self.start, tools=[("search", False, 0.1)] * 25))
        ingest(self.project, agent_run(self.start, tools=[("search", False, 0.1)] * 5))
        (alert,) = self.run_alerts()
        assert (alert.kind, alert.spend) == (Alert.Kind.RUN_TOOL_CALLS, 25)

    def test_only_runs_in_the_budgets_scope_count(self):
        make_budget(self.project, "1000", scope="agent", scope_value="support-bot", run_cost_cap_usd=Decimal("1"))
        make_budget(self.project, "1000", name="Claude runs", scope="model", scope_value="claude-x",
                    run_cost_cap_usd=Decimal("1"))  # fmt: skip
        ingest(self.project, agent_run(self.start, agent="other-bot", calls=[("gpt-test", "9", 1.0)]))
        assert self.run_alerts() == []
        ingest(self.project, agent_run(self.start, agent="other-bot", calls=[("claude-x", "9", 1.0)]))
        assert [a.budget.name for a in self.run_alerts()] == ["Claude runs"]

    def test_budgets_without_caps_or_disabled_do_not_alert_per_run(self):
        make_budget(self.project, "1000")
        make_budget(self.project, "1000", run_cost_cap_usd=Decimal("1"), enabled=False)
        ingest(self.project, agent_run(self.start, calls=[("gpt-test", "9", 1.0)]))
        assert self.run_alerts() == []


class RunCapDeliveryTests(TestCase):
    def setUp(self):
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.project, _ = make_project("Acme agents", org_slug="acme")

    def test_slack_message_names_the_run_and_links_to_it(self):
        from budgets.models import Destination

        destination = Destination.objects.create(project=self.project, name="ops", url=self.slack.url())
        budget = make_budget(self.project, "1000", run_cost_cap_usd=Decimal("2"))
        budget.destinations.add(destination)
        items = agent_run(timezone.now() - timedelta(minutes=1), calls=[("gpt-test", "4.5", 1.0)])
        ingest(self.project, items)
        assert outbox.deliver_due_alerts() == 1
        (request,) = self.slack.received
        payload = request.json
        assert payload["text"].startswith(
            f"Runaway run: Support bot daily — run {items[0][0].trace_id} cost $4.50, cap $2.00"
        )
        button = payload["blocks"][-1]["elements"][0]
        assert button["url"].endswith(f"/p/acme/acme-agents/runs/{items[0][0].trace_id}/")
