"""Alerts delivered to every kind of destination, each against a local stand-in of the real
receiver: a webhook that checks our signature, PagerDuty's Events API, and e-mail through Django's
test backend and through a real SMTP server. The outbox's guarantees hold for each kind: nothing
lost while the receiver is down, nothing sent twice, a refusal for good disables the destination."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.core import mail
from django.test import TestCase, override_settings
from django.utils import timezone

from budgets import digests, evaluation, messages
from budgets.anomalies import services as anomaly_services
from budgets.delivery import outbox
from budgets.delivery.dispatch import deliver
from budgets.delivery.errors import NotifyError
from budgets.models import Alert, Destination
from tenancy.models import Project
from tests import processes
from tests.budgets.helpers import hourly_rollups, make_budget, spend
from tests.factories import make_project
from tests.fakes.receiver import FakeReceiver, fake_receiver
from tests.fakes.replies import Answer
from tests.fakes.slack_server import fake_slack
from tests.fakes.smtp_server import fake_smtp
from tests.ingest.spans import agent_run, ingest

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SECRET = "whsec-4f1c0e7b9a"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
# Anomaly data (as in test_anomaly_alerts): 8 days of steady hourly cost, then a spike at 14:00.
ANOMALY_NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)
ANOMALY_START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HOURS = 8 * 24


def spike(i: int) -> float:
    return 20.0 if i == HOURS - 1 else 2.0


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does (the snippet in docs/budgets-and-alerts.md)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def crossed_budget(project: Project, destination: Destination, cost: str = "8.5") -> Alert:
    """A daily budget of $10 on support-bot, spent `cost` by 15:00: its 80% alert (and 100%)."""
    budget = make_budget(project)
    budget.destinations.add(destination)
    spend(project, NOW - timedelta(hours=3), cost)
    evaluation.evaluate_budgets(project, NOW)
    return Alert.objects.get(budget=budget, threshold=80)


def anomaly_then_recovery(project: Project) -> tuple[datetime, datetime]:
    """A cost spike detected at ANOMALY_NOW and its recovery an hour later (both rows written)."""
    hourly_rollups(project, ANOMALY_START, HOURS + 1, cost=spike)
    assert anomaly_services.detect_anomalies(now=ANOMALY_NOW) == 1
    later = ANOMALY_NOW + timedelta(hours=1)
    assert anomaly_services.detect_anomalies(now=later) == 1
    return ANOMALY_NOW, later


@override_settings(SITE_URL="https://ledger.example")
class WebhookTests(TestCase):
    def setUp(self) -> None:
        self.hook: FakeReceiver = self.enterContext(fake_receiver())
        self.project, _ = make_project("Support", org_slug="acme")

    def webhook(self, **fields: object) -> Destination:
        return Destination.objects.create(
            project=self.project, name="on-call hook", kind="webhook", url=self.hook.url(), **fields
        )

    def test_a_budget_alert_arrives_signed_with_its_facts(self):
        alert = crossed_budget(self.project, self.webhook(secret=SECRET))

        assert outbox.deliver_due_alerts(NOW) == 1

        [request] = self.hook.received
        assert signature_ok(SECRET, request.body, request.header("X-AgentLedger-Signature"))
        assert not signature_ok(SECRET, request.body.replace(b"8.5", b"0.5"), request.header("X-AgentLedger-Signature"))
        assert request.header("Content-Type") == "application/json"
        body = request.json
        link = urlsplit(body.pop("url"))
        assert (link.scheme, link.netloc, link.path) == ("https", "ledger.example", "/p/acme/support/cost/")
        assert body.pop("details")["Threshold"] == "80%"
        assert body == {
            "state": "warning",
            "source": "budget",
            "monitor": "Support bot daily",
            "project": "Support",
            "title": "Budget warning: Support bot daily",
            "text": "Budget warning: Support bot daily — $8.50 of $10.00 (85.0%), threshold 80%, agent support-bot",
            "metric": "cost_usd",
            "scope_value": "support-bot",
            "observed": "8.5",
            "threshold": "8",
            "window_minutes": 1440,
            "time": f"{alert.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "dedup_key": f"agentledger:budget:{alert.budget_id}:2026-03-10T00:00Z",
        }

    def test_exceeded_is_critical_and_shares_the_incident_key_of_the_warning(self):
        crossed_budget(self.project, self.webhook(), cost="12")
        assert outbox.deliver_due_alerts(NOW) == 2
        bodies = sorted((r.json for r in self.hook.received), key=lambda b: b["threshold"])
        assert [(b["state"], b["threshold"], b["observed"]) for b in bodies] == [
            ("critical", "10", "12"),
            ("warning", "8", "12"),
        ]
        assert bodies[0]["dedup_key"] == bodies[1]["dedup_key"]
        assert all(r.header("X-AgentLedger-Signature") is None for r in self.hook.received)  # no secret: unsigned

    def test_an_anomaly_and_its_recovery_arrive_as_one_incident(self):
        self.webhook(secret=SECRET)
        _, recovered = anomaly_then_recovery(self.project)

        assert outbox.deliver_due_alerts(recovered) == 2

        assert all(signature_ok(SECRET, r.body, r.header("X-AgentLedger-Signature")) for r in self.hook.received)
        by_state = {r.json["state"]: r.json for r in self.hook.received}
        anomaly, recovery = by_state["warning"], by_state["resolved"]
        alert = Alert.objects.get(kind="anomaly")
        assert anomaly["title"] == recovery["title"].replace("Recovered", "Anomaly")
        assert (anomaly["source"], anomaly["monitor"], anomaly["metric"], anomaly["scope_value"]) == (
            "anomaly",
            "Cost per hour, every agent",
            "cost",
            "support-bot",
        )
        assert anomaly["window_minutes"] == 60
        assert Decimal(anomaly["observed"]) == alert.observed
        assert Decimal(anomaly["threshold"]) == alert.band_high < alert.observed
        assert Decimal(recovery["observed"]) <= Decimal(recovery["threshold"])
        assert anomaly["dedup_key"] == recovery["dedup_key"]
        assert urlsplit(anomaly["url"]).path == f"/p/acme/support/anomalies/{alert.pk}/"

    def test_a_failing_webhook_keeps_the_alert_then_gets_it_once(self):
        alert = crossed_budget(self.project, self.webhook())
        self.hook.answer(500, "upstream down", {"Retry-After": "120"})

        assert outbox.deliver_due_alerts(NOW) == 0
        alert.refresh_from_db()
        assert alert.sent_at is None and "500" in alert.last_error
        assert alert.next_attempt_at == NOW + timedelta(seconds=120)  # Retry-After beats the 30 s backoff
        assert outbox.deliver_due_alerts(NOW + timedelta(seconds=119)) == 0
        assert len(self.hook.received) == 1

        assert outbox.deliver_due_alerts(NOW + timedelta(seconds=120)) == 1
        for minutes in range(1, 10):  # later passes find nothing to send
            assert outbox.deliver_due_alerts(NOW + timedelta(minutes=minutes)) == 0
        assert len(self.hook.received) == 2
        assert self.hook.received[0].body == self.hook.received[1].body  # the same alert, once delivered
        alert.refresh_from_db()
        assert alert.sent_at is not None and alert.last_error == ""
        assert Destination.objects.get().enabled

    def test_a_webhook_answering_500_for_an_hour_loses_nothing_and_gets_the_alert_once(self):
        alert = crossed_budget(self.project, self.webhook(secret=SECRET))
        tried = 0
        for minute in range(60):  # the outbox's pass every minute, the receiver down throughout
            if not self.hook.answers:
                self.hook.answer(500, "upstream down")
            outbox.deliver_due_alerts(NOW + timedelta(minutes=minute))
            tried = len(self.hook.received)
        alert.refresh_from_db()
        assert alert.sent_at is None and "500" in alert.last_error
        assert Destination.objects.get().enabled, "a server error is for now, not for good"
        assert 4 <= tried <= 10, "retried with a growing backoff, not every minute"
        self.hook.answers.clear()
        sent = 0
        for minute in range(60, 150):  # back up: the next retry (at most an hour later) delivers
            sent += outbox.deliver_due_alerts(NOW + timedelta(minutes=minute))
        assert sent == 1
        assert len(self.hook.received) == tried + 1
        assert self.hook.received[-1].json["state"] == "warning"

    def test_an_unreachable_webhook_is_retried_not_disabled(self):
        destination = self.webhook()
        Destination.objects.filter(pk=destination.pk).update(url=f"http://127.0.0.1:{processes.free_port()}/hook")
        alert = crossed_budget(self.project, destination)
        assert outbox.deliver_due_alerts(NOW) == 0
        alert.refresh_from_db()
        destination.refresh_from_db()
        assert "could not reach the webhook at 127.0.0.1" in alert.last_error
        assert destination.enabled
        Destination.objects.filter(pk=destination.pk).update(url=self.hook.url())  # back up
        assert outbox.deliver_due_alerts(NOW + timedelta(minutes=1)) == 1
        assert len(self.hook.received) == 1

    def test_410_disables_the_destination_and_keeps_the_alert(self):
        alert = crossed_budget(self.project, self.webhook())
        self.hook.answer(410, "this hook is gone")

        assert outbox.deliver_due_alerts(NOW) == 0
        destination = Destination.objects.get()
        assert not destination.enabled and "410" in destination.disabled_reason
        assert outbox.deliver_due_alerts(NOW + timedelta(days=1)) == 0
        alert.refresh_from_db()
        assert alert.sent_at is None and alert.undeliverable == Alert.Undeliverable.DESTINATIONS_DISABLED
        assert len(self.hook.received) == 1

        outbox.destination_enable(destination, NOW + timedelta(days=1))  # the user fixed it
        assert outbox.deliver_due_alerts(NOW + timedelta(days=1)) == 1
        assert len(self.hook.received) == 2

    def test_which_answers_are_for_good_and_which_are_for_now(self):
        destination = self.webhook()
        notice = messages.test_notice(destination.name, self.project, NOW)
        for status, permanent in [(400, True), (401, True), (403, True), (404, True), (410, True),
                                  (408, False), (429, False), (500, False), (502, False), (503, False)]:  # fmt: skip
            with self.subTest(status=status):
                self.hook.answer(status, "no", {"Retry-After": "7"})
                with self.assertRaises(NotifyError) as caught:
                    deliver(destination, notice)
                assert caught.exception.permanent is permanent
                assert caught.exception.retry_after == (None if permanent else 7)
        deliver(destination, notice)  # 200: accepted

    def test_a_run_over_its_cap_is_critical(self):
        destination = self.webhook()
        budget = make_budget(self.project, "1000", run_cost_cap_usd=Decimal("2"))
        budget.destinations.add(destination)
        items = agent_run(timezone.now() - timedelta(minutes=1), calls=[("gpt-test", "4.5", 1.0)])
        ingest(self.project, items)
        assert outbox.deliver_due_alerts() == 1
        body = self.hook.received[0].json
        trace_id = items[0][0].trace_id
        assert (body["state"], body["source"], body["metric"], body["observed"], body["threshold"]) == (
            "critical",
            "run_cap",
            "run_cost_usd",
            "4.5",
            "2",
        )
        assert body["window_minutes"] is None
        assert body["url"].endswith(f"/p/acme/support/runs/{trace_id}/")

    def test_the_daily_digest_and_the_test_message_reach_a_webhook(self):
        destination = self.webhook(daily_digest=True, secret=SECRET)
        spend(self.project, NOW - timedelta(days=1), "3", agent="steady")
        assert digests.send_digests(NOW) == 1
        outbox.destination_send_test(destination)
        digest, test = (r.json for r in self.hook.received)
        assert (digest["source"], digest["state"], digest["observed"]) == ("digest", "info", "3")
        assert digest["title"] == "Support: $3.00 on Monday 2026-03-09"
        assert "• steady: $3.00 (new)" in digest["text"]
        assert (test["source"], test["state"]) == ("test", "info")
        assert all(signature_ok(SECRET, r.body, r.header("X-AgentLedger-Signature")) for r in self.hook.received)


@override_settings(SITE_URL="https://ledger.example")
class PagerDutyTests(TestCase):
    def setUp(self) -> None:
        accepted = Answer(202, '{"status": "success", "message": "Event processed"}')
        self.pagerduty: FakeReceiver = self.enterContext(fake_receiver(default=accepted))
        self.enterContext(override_settings(AGENTLEDGER_PAGERDUTY_EVENTS_URL=self.pagerduty.url("/v2/enqueue")))
        self.project, _ = make_project("Support", org_slug="acme")
        self.destination = Destination.objects.create(
            project=self.project, name="on call", kind="pagerduty", routing_key=ROUTING_KEY
        )

    def events(self) -> list[dict[str, object]]:
        assert all(r.path == "/v2/enqueue" for r in self.pagerduty.received)
        return [r.json for r in self.pagerduty.received]

    def test_an_anomaly_triggers_and_its_recovery_resolves_the_same_alert(self):
        detected, recovered = anomaly_then_recovery(self.project)
        assert outbox.deliver_due_alerts(detected) == 1  # the anomaly only: its recovery is not due yet
        assert outbox.deliver_due_alerts(recovered) == 1

        trigger, resolve = self.events()
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
        assert trigger["dedup_key"] == resolve["dedup_key"]
        payload = trigger["payload"]
        assert isinstance(payload, dict)
        assert payload["severity"] == "warning"
        assert payload["summary"].startswith("Anomaly: Cost per hour, agent support-bot — $")
        assert payload["source"] == "Support / support-bot"
        assert payload["class"] == "anomaly" and payload["component"] == "cost"
        assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
        assert payload["custom_details"]["monitor"] == "Cost per hour, every agent"
        alert = Alert.objects.get(kind="anomaly")
        assert trigger["links"] == [
            {"href": f"https://ledger.example/p/acme/support/anomalies/{alert.pk}/", "text": "Open in AgentLedger"}
        ]

    def test_budget_severity_follows_the_threshold_within_one_incident(self):
        crossed_budget(self.project, self.destination, cost="12")
        assert outbox.deliver_due_alerts(NOW) == 2
        events = self.events()
        severities = sorted(e["payload"]["severity"] for e in events)  # type: ignore[index]
        assert severities == ["critical", "warning"]
        assert {e["event_action"] for e in events} == {"trigger"}
        assert len({e["dedup_key"] for e in events}) == 1

    def test_400_disables_and_429_waits(self):
        alert = crossed_budget(self.project, self.destination)
        self.pagerduty.answer(429, '{"status": "throttled"}', {"Retry-After": "60"})
        assert outbox.deliver_due_alerts(NOW) == 0
        alert.refresh_from_db()
        assert alert.next_attempt_at == NOW + timedelta(seconds=60)
        self.pagerduty.answer(400, '{"status": "invalid event", "errors": ["routing_key is invalid"]}')
        assert outbox.deliver_due_alerts(NOW + timedelta(seconds=60)) == 0
        self.destination.refresh_from_db()
        assert not self.destination.enabled and "400" in self.destination.disabled_reason
        assert outbox.deliver_due_alerts(NOW + timedelta(days=1)) == 0
        assert len(self.pagerduty.received) == 2

    def test_the_test_message_triggers_then_resolves_and_digests_skip_pagerduty(self):
        outbox.destination_send_test(self.destination)
        trigger, resolve = self.events()
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert trigger["dedup_key"] == resolve["dedup_key"]
        assert str(trigger["dedup_key"]).startswith("agentledger:test:")

        Destination.objects.filter(pk=self.destination.pk).update(daily_digest=True)  # as an old row might have
        with fake_slack() as slack:
            Destination.objects.create(project=self.project, name="#daily", url=slack.url(), daily_digest=True)
            spend(self.project, NOW - timedelta(days=1), "3")
            assert digests.send_digests(NOW) == 1
            assert len(slack.received) == 1
        assert len(self.pagerduty.received) == 2  # the test's two events only


@override_settings(SITE_URL="https://ledger.example", DEFAULT_FROM_EMAIL="AgentLedger <alerts@ledger.example>")
class EmailTests(TestCase):
    """Django's test runner sends through its in-memory backend (django.core.mail.outbox)."""

    def setUp(self) -> None:
        self.project, _ = make_project("Support", org_slug="acme")
        self.destination = Destination.objects.create(
            project=self.project, name="finance", kind="email", to="ops@example.com, cfo@example.com"
        )

    def test_a_budget_alert_is_an_email_with_the_title_the_text_and_the_link(self):
        crossed_budget(self.project, self.destination)
        assert outbox.deliver_due_alerts(NOW) == 1
        [message] = mail.outbox
        assert message.subject == "Budget warning: Support bot daily"
        assert message.to == ["ops@example.com", "cfo@example.com"]
        assert message.from_email == "AgentLedger <alerts@ledger.example>"
        assert message.body.startswith(
            "Budget warning: Support bot daily — $8.50 of $10.00 (85.0%), threshold 80%, agent support-bot\n\n"
        )
        assert "Projected by period end: $13.60" in message.body
        assert "https://ledger.example/p/acme/support/cost/?" in message.body

    def test_the_digest_and_the_test_message_are_emails_too(self):
        Destination.objects.filter(pk=self.destination.pk).update(daily_digest=True)
        spend(self.project, NOW - timedelta(days=1), "3", agent="steady")
        assert digests.send_digests(NOW) == 1
        outbox.destination_send_test(self.destination)
        digest, test = mail.outbox
        assert digest.subject == "Support: $3.00 on Monday 2026-03-09"
        assert "• steady: $3.00 (new)" in digest.body
        assert test.subject == "AgentLedger test message"
        assert "“finance”" in test.body


@override_settings(SITE_URL="https://ledger.example", DEFAULT_FROM_EMAIL="alerts@ledger.example")
class SmtpTests(TestCase):
    """Through a real SMTP server on 127.0.0.1."""

    def setUp(self) -> None:
        self.project, _ = make_project("Support", org_slug="acme")
        self.destination = Destination.objects.create(
            project=self.project, name="finance", kind="email", to="ops@example.com, cfo@example.com"
        )

    def test_an_alert_goes_out_over_smtp(self):
        crossed_budget(self.project, self.destination)
        with fake_smtp() as smtp, override_settings(**smtp.settings()):
            assert outbox.deliver_due_alerts(NOW) == 1
        [message] = smtp.messages
        assert message["Subject"] == "Budget warning: Support bot daily"
        assert message["To"] == "ops@example.com, cfo@example.com"
        assert smtp.recorder.envelopes == [("alerts@ledger.example", ["ops@example.com", "cfo@example.com"])]
        text = message.get_content()
        assert "$8.50 of $10.00 (85.0%)" in text and "https://ledger.example/p/acme/support/cost/?" in text

    def test_a_mail_server_down_loses_nothing_and_sends_once_when_back(self):
        port = processes.free_port()  # nothing listens there yet
        alert = crossed_budget(self.project, self.destination)
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                               EMAIL_PORT=port):  # fmt: skip
            assert outbox.deliver_due_alerts(NOW) == 0
            alert.refresh_from_db()
            assert alert.sent_at is None and "could not send the e-mail" in alert.last_error
            with fake_smtp(port) as smtp:
                assert outbox.deliver_due_alerts(NOW + timedelta(minutes=1)) == 1
                assert outbox.deliver_due_alerts(NOW + timedelta(minutes=2)) == 0
        assert len(smtp.messages) == 1
        assert Destination.objects.get().enabled

    def test_refused_recipients_disable_the_destination_for_good_only(self):
        alert = crossed_budget(self.project, self.destination)
        with fake_smtp() as smtp, override_settings(**smtp.settings()):
            smtp.refuse("ops@example.com", "450 4.2.1 mailbox busy")
            smtp.refuse("cfo@example.com", "450 4.2.1 mailbox busy")
            assert outbox.deliver_due_alerts(NOW) == 0
            assert Destination.objects.get().enabled  # for now: retried
            smtp.refuse("ops@example.com", "550 5.1.1 no such user")
            smtp.refuse("cfo@example.com", "550 5.1.1 no such user")
            assert outbox.deliver_due_alerts(NOW + timedelta(minutes=1)) == 0
        destination = Destination.objects.get()
        assert not destination.enabled and "550" in destination.disabled_reason
        alert.refresh_from_db()
        assert alert.sent_at is None
        assert smtp.messages == []


class SlackStillWorksTests(TestCase):
    def test_a_slack_destination_made_through_the_old_field_still_gets_alerts(self):
        project, key = make_project()
        with fake_slack() as slack:
            response = self.client.post(
                "/api/v1/destinations",
                {"name": "#ops", "webhook_url": slack.url()},
                content_type="application/json",
                headers={"authorization": f"Bearer {key}"},
            )
            assert response.status_code == 201, response.content
            assert response.json()["kind"] == "slack"
            crossed_budget(project, Destination.objects.get())
            assert outbox.deliver_due_alerts(NOW) == 1
        [request] = slack.received
        assert request.json["blocks"][0]["text"]["text"] == "Budget warning: Support bot daily"
