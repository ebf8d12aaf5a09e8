from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from django.test import TestCase, override_settings

from budgets import evaluation
from budgets.delivery import outbox
from budgets.models import Alert, Budget, Destination
from tenancy.models import Project
from tests import processes
from tests.budgets.helpers import make_budget, spend
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def crossed_budget(project: Project, url: str, cost: str = "8.5") -> tuple[Budget, Destination, Alert]:
    destination = Destination.objects.create(project=project, name="#ops", url=url)
    budget = make_budget(project)
    budget.destinations.add(destination)
    spend(project, NOW - timedelta(hours=3), cost)
    evaluation.evaluate_budgets(project, NOW)
    return budget, destination, Alert.objects.get(budget=budget, threshold=80)


class DeliveryTests(TestCase):
    def setUp(self) -> None:
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.project, _ = make_project()

    @override_settings(SITE_URL="https://ledger.example")
    def test_the_message_says_what_crossed_by_how_much_and_links_to_the_cost(self):
        crossed_budget(self.project, self.slack.url(), cost="8.5")

        assert outbox.deliver_due_alerts(NOW) == 1

        [request] = self.slack.received
        assert request.path == "/services/T000/B000/XXXXsecret"
        payload = request.json
        assert payload["text"].startswith("Budget warning: Support bot daily — $8.50 of $10.00 (85.0%)")
        header, section, actions = payload["blocks"]
        assert header["text"]["text"] == "Budget warning: Support bot daily"
        fields = [f["text"] for f in section["fields"]]
        assert fields == [
            "*Scope*\nagent support-bot",
            "*Spend*\n$8.50 of $10.00 (85.0%)",
            "*Threshold*\n80%",
            "*Period*\nDay 2026-03-10 to 2026-03-10 (UTC)",
            "*Projected by period end*\n$13.60",  # 8.50 in 15 of 24 hours
        ]
        link = urlsplit(actions["elements"][0]["url"])
        org, slug = self.project.organization.slug, self.project.slug
        assert (link.scheme, link.netloc, link.path) == ("https", "ledger.example", f"/p/{org}/{slug}/cost/")
        assert parse_qs(link.query)["agent"] == ["support-bot"]
        assert parse_qs(link.query)["since"] == ["2026-03-10T00:00:00+00:00"]

    def test_exceeded_is_said_so(self):
        crossed_budget(self.project, self.slack.url(), cost="12")
        outbox.deliver_due_alerts(NOW)
        titles = sorted(r.json["blocks"][0]["text"]["text"] for r in self.slack.received)
        assert titles == ["Budget exceeded: Support bot daily", "Budget warning: Support bot daily"]

    def test_a_sent_alert_is_never_sent_again(self):
        _, _, alert = crossed_budget(self.project, self.slack.url())
        assert outbox.send_alert(alert.pk, NOW) is True
        assert outbox.send_alert(alert.pk, NOW) is False
        assert outbox.deliver_due_alerts(NOW + timedelta(hours=1)) == 0
        evaluation.evaluate_budgets(self.project, NOW + timedelta(minutes=5))
        assert outbox.deliver_due_alerts(NOW + timedelta(minutes=5)) == 0
        assert len(self.slack.received) == 1
        alert.refresh_from_db()
        assert (alert.sent_at, alert.attempts, alert.last_error) == (NOW, 1, "")

    def test_a_claimed_alert_is_not_sent_by_a_second_worker_until_its_lease_expires(self):
        _, _, alert = crossed_budget(self.project, self.slack.url())
        # a worker claimed it and died before posting
        Alert.objects.filter(pk=alert.pk).update(next_attempt_at=NOW + outbox.LEASE, attempts=1)
        assert outbox.send_alert(alert.pk, NOW) is False
        assert self.slack.received == []
        assert outbox.send_alert(alert.pk, NOW + outbox.LEASE) is True
        assert len(self.slack.received) == 1

    def test_429_waits_for_retry_after_then_delivers(self):
        _, _, alert = crossed_budget(self.project, self.slack.url())
        self.slack.answer(429, "rate_limited", {"Retry-After": "120"})

        assert outbox.deliver_due_alerts(NOW) == 0
        alert.refresh_from_db()
        assert alert.sent_at is None
        assert alert.next_attempt_at == NOW + timedelta(seconds=120)
        assert "429" in alert.last_error
        assert outbox.deliver_due_alerts(NOW + timedelta(seconds=119)) == 0
        assert len(self.slack.received) == 1

        assert outbox.deliver_due_alerts(NOW + timedelta(seconds=120)) == 1
        assert len(self.slack.received) == 2
        alert.refresh_from_db()
        assert (alert.attempts, alert.last_error) == (2, "")

    def test_5xx_retries_with_growing_backoff(self):
        _, destination, alert = crossed_budget(self.project, self.slack.url())
        self.slack.answer(500, "oops")
        self.slack.answer(503, "oops")

        outbox.send_alert(alert.pk, NOW)
        alert.refresh_from_db()
        assert alert.next_attempt_at == NOW + timedelta(seconds=30)
        outbox.send_alert(alert.pk, alert.next_attempt_at)
        second_try = alert.next_attempt_at
        alert.refresh_from_db()
        assert alert.next_attempt_at == second_try + timedelta(seconds=60)
        assert outbox.send_alert(alert.pk, alert.next_attempt_at) is True
        assert len(self.slack.received) == 3
        destination.refresh_from_db()
        assert destination.enabled

    def test_slack_down_loses_nothing(self):
        url = f"http://127.0.0.1:{processes.free_port()}/services/x"
        _, destination, alert = crossed_budget(self.project, url)
        assert outbox.deliver_due_alerts(NOW) == 0
        alert.refresh_from_db()
        assert alert.sent_at is None
        assert "could not reach Slack" in alert.last_error
        Destination.objects.filter(pk=destination.pk).update(url=self.slack.url())  # back up
        assert outbox.deliver_due_alerts(NOW + timedelta(minutes=1)) == 1
        assert len(self.slack.received) == 1

    def test_404_disables_the_destination_and_keeps_the_alert(self):
        _, destination, alert = crossed_budget(self.project, self.slack.url())
        self.slack.answer(404, "no_service")

        assert outbox.deliver_due_alerts(NOW) == 0
        destination.refresh_from_db()
        assert not destination.enabled
        assert "404" in destination.disabled_reason
        assert outbox.deliver_due_alerts(NOW + timedelta(days=1)) == 0
        assert len(self.slack.received) == 1  # a disabled destination gets no more posts

        outbox.destination_enable(destination, NOW + timedelta(days=1))  # fixed by a user
        assert outbox.deliver_due_alerts(NOW + timedelta(days=1)) == 1
        assert len(self.slack.received) == 2
        alert.refresh_from_db()
        assert alert.sent_at is not None

    def test_invalid_token_is_permanent_too(self):
        _, destination, _ = crossed_budget(self.project, self.slack.url())
        self.slack.answer(400, "invalid_token")
        outbox.deliver_due_alerts(NOW)
        destination.refresh_from_db()
        assert not destination.enabled

    def test_a_destination_that_got_it_is_not_posted_again_when_another_fails(self):
        budget, _, alert = crossed_budget(self.project, self.slack.url())
        with fake_slack() as other:
            budget.destinations.add(Destination.objects.create(project=self.project, name="b", url=other.url()))
            other.answer(500)
            assert outbox.send_alert(alert.pk, NOW) is False
            assert outbox.send_alert(alert.pk, NOW + timedelta(minutes=1)) is True
            assert (len(self.slack.received), len(other.received)) == (1, 2)

    def test_test_message_reaches_the_destination(self):
        destination = Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        outbox.destination_send_test(destination)
        assert "test message" in self.slack.received[0].json["text"]

    def test_the_url_is_shown_masked(self):
        destination = Destination(url="https://hooks.slack.com/services/T0/B0/abcdefSECRET")
        assert destination.masked_url == "https://hooks.slack.com/…CRET"
        assert "abcdef" not in destination.masked_url
