"""Monitors judged minute by minute: spans in through real intake, incidents and Alert rows out,
and the messages a Slack channel gets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from celery.schedules import crontab
from django.db import IntegrityError, transaction
from django.test import TestCase, override_settings

from budgets.delivery import outbox
from budgets.models import Alert, Destination
from budgets.monitors import evaluation
from budgets.monitors.models import Monitor, MonitorIncident
from config.celery import app as celery_app
from tenancy.models import Project
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack
from tests.ingest.spans import agent_run, ingest

# Two days ago at 15:00 UTC: recent enough for minute rows (AGENTLEDGER_MINUTE_RETENTION_DAYS).
NOW = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(15, 0), UTC)
MINUTE = timedelta(minutes=1)


def runs(project: Project, n: int, *, failed: int = 0, at: datetime = NOW - 2 * MINUTE, **kwargs: Any) -> None:
    """n runs starting at `at`, the first `failed` of them failed."""
    for i in range(n):
        ingest(project, agent_run(at + timedelta(seconds=i), failed=i < failed, **kwargs))


def make_monitor(project: Project, **kwargs: Any) -> Monitor:
    fields: dict[str, Any] = {
        "name": "Support bot failures",
        "metric": "failure_rate",
        "scope": "project",
        "window_minutes": 5,
        "critical": Decimal("0.25"),
        "min_volume": 1,
        "recovery_evaluations": 1,
    }
    fields.update(kwargs)
    monitor = Monitor(project=project, **fields)
    monitor.full_clean()
    monitor.save()
    return monitor


def minute(i: int) -> datetime:
    return NOW + i * MINUTE


def states(monitor: Monitor) -> list[tuple[str, str]]:
    return sorted(monitor.incidents.values_list("scope_value", "state"))


def kinds(monitor: Monitor) -> list[str]:
    return list(Alert.objects.filter(monitor=monitor).order_by("pk").values_list("kind", flat=True))


class ThresholdTests(TestCase):
    def setUp(self) -> None:
        self.project, _ = make_project()

    def test_exactly_at_the_threshold_does_not_alert_just_beyond_it_does(self):
        monitor = make_monitor(self.project, critical=Decimal("0.25"))
        runs(self.project, 4, failed=1)  # 25% failed: at the threshold
        assert evaluation.evaluate_monitors(NOW) == 0
        assert not MonitorIncident.objects.exists()

        runs(self.project, 1, failed=1, at=NOW + timedelta(seconds=10))  # 2 of 5: 40%
        assert evaluation.evaluate_monitors(minute(1)) == 1
        assert states(monitor) == [("", "critical")]
        alert = Alert.objects.get()
        assert (alert.kind, alert.metric, alert.observed, alert.threshold) == (
            "monitor_critical", "failure_rate", Decimal("0.4"), Decimal("0.25"),
        )  # fmt: skip

    def test_below_exactly_at_the_threshold_does_not_alert(self):
        monitor = make_monitor(self.project, metric="runs", comparison="below", critical=Decimal(3))
        for at in (minute(-4), minute(-3), minute(-2)):
            runs(self.project, 1, at=at)
        assert evaluation.evaluate_monitors(minute(1)) == 0  # 14:56 to 15:01: three runs
        assert evaluation.evaluate_monitors(minute(2)) == 1  # 14:57 to 15:02: two
        assert monitor.incidents.get().last_value == 2

    def test_a_window_below_the_minimum_volume_is_not_judged(self):
        make_monitor(self.project, min_volume=5)
        runs(self.project, 4, failed=4)
        assert evaluation.evaluate_monitors(NOW) == 0
        assert not MonitorIncident.objects.exists()

    def test_an_open_incident_stays_open_while_the_volume_is_too_low(self):
        monitor = make_monitor(self.project, min_volume=3, window_minutes=1)
        runs(self.project, 3, failed=3, at=minute(-1))
        assert evaluation.evaluate_monitors(NOW) == 1
        runs(self.project, 1, at=NOW)  # one good run: too few to judge
        assert evaluation.evaluate_monitors(minute(1)) == 0
        incident = monitor.incidents.get()
        assert (incident.state, incident.inside_count) == ("critical", 0)

    def test_an_empty_window_is_not_judged_but_a_total_of_zero_can_be(self):
        failures = make_monitor(self.project)
        traffic = make_monitor(self.project, name="No traffic", metric="runs", comparison="below", critical=1,
                               min_volume=0)  # fmt: skip
        assert evaluation.evaluate_monitors(NOW) == 1
        assert states(failures) == []
        assert states(traffic) == [("", "critical")]
        assert traffic.incidents.get().last_value == 0

    def test_evaluating_twice_in_a_minute_counts_once(self):
        monitor = make_monitor(self.project, recovery_evaluations=2, window_minutes=1)
        runs(self.project, 2, failed=2, at=minute(-1))
        assert evaluation.evaluate_monitors(NOW) == 1
        assert evaluation.evaluate_monitors(NOW + timedelta(seconds=30)) == 0
        evaluation.evaluate_monitors(minute(1))  # empty window: not judged
        runs(self.project, 2, at=minute(1))
        evaluation.evaluate_monitors(minute(2))
        evaluation.evaluate_monitors(minute(2) + timedelta(seconds=40))
        incident = monitor.incidents.get()
        assert (incident.state, incident.inside_count) == ("critical", 1)
        assert kinds(monitor) == ["monitor_critical"]


class IncidentTests(TestCase):
    """Minute i has its own runs; a one-minute window sees only them."""

    def setUp(self) -> None:
        self.project, _ = make_project()

    def minute_of(self, i: int, *, n: int = 10, failed: int = 0, agent: str = "support-bot") -> int:
        runs(self.project, n, failed=failed, at=minute(i) + timedelta(seconds=5), agent=agent)
        return evaluation.evaluate_monitors(minute(i + 1))

    def test_group_by_opens_one_incident_per_value(self):
        monitor = make_monitor(self.project, scope="agent", window_minutes=1)
        self.minute_of(0, failed=5, agent="support-bot")
        self.minute_of(0, failed=6, agent="writer")
        self.minute_of(0, failed=0, agent="triage")
        assert states(monitor) == [("support-bot", "critical"), ("writer", "critical")]
        assert sorted(Alert.objects.values_list("scope_value", flat=True)) == ["support-bot", "writer"]

    def test_one_named_value_is_watched_alone(self):
        monitor = make_monitor(self.project, scope="agent", scope_value="writer", window_minutes=1)
        self.minute_of(0, failed=5, agent="support-bot")
        assert states(monitor) == []
        self.minute_of(1, failed=5, agent="writer")
        assert states(monitor) == [("writer", "critical")]

    def test_warning_then_critical_is_one_message_each_and_it_never_steps_down(self):
        monitor = make_monitor(self.project, warning=Decimal("0.2"), critical=Decimal("0.5"), window_minutes=1)
        assert self.minute_of(0, failed=3) == 1  # 30%: warning
        assert self.minute_of(1, failed=4) == 0  # still warning: nothing new
        assert self.minute_of(2, failed=6) == 1  # 60%: critical
        assert self.minute_of(3, failed=3) == 0  # back in the warning band: stays critical, silently
        incident = monitor.incidents.get()
        assert (incident.state, incident.opened_at, incident.escalated_at) == ("critical", minute(1), minute(3))
        assert kinds(monitor) == ["monitor_warning", "monitor_critical"]
        warning, critical = Alert.objects.order_by("pk")
        assert (warning.threshold, critical.threshold) == (Decimal("0.2"), Decimal("0.5"))

    def test_recovery_needs_n_evaluations_inside_in_a_row_so_an_alternating_series_does_not_flap(self):
        monitor = make_monitor(self.project, recovery_evaluations=3, window_minutes=1)
        for i, failed in enumerate([5, 0, 5, 0, 5, 0, 0]):
            self.minute_of(i, failed=failed)
        assert states(monitor) == [("", "critical")]
        assert kinds(monitor) == ["monitor_critical"]
        self.minute_of(7, failed=0)
        incident = monitor.incidents.get()
        assert (incident.state, incident.resolved_at) == ("resolved", minute(8))
        assert kinds(monitor) == ["monitor_critical", "monitor_resolved"]
        self.minute_of(8, failed=5)  # a new excursion is a new incident
        assert states(monitor) == [("", "critical"), ("", "resolved")]
        assert kinds(monitor) == ["monitor_critical", "monitor_resolved", "monitor_critical"]

    def test_muted_incidents_are_kept_but_say_nothing_until_the_mute_ends(self):
        monitor = make_monitor(self.project, window_minutes=1, muted_until=minute(3))
        assert self.minute_of(0, failed=5) == 0
        assert self.minute_of(1, failed=5) == 0
        assert states(monitor) == [("", "critical")]
        assert self.minute_of(3, failed=5) == 1  # mute over, still breaching: announced now
        assert kinds(monitor) == ["monitor_critical"]
        assert self.minute_of(4, failed=0) == 1
        assert kinds(monitor) == ["monitor_critical", "monitor_resolved"]

    def test_an_incident_that_resolves_while_muted_says_nothing_more(self):
        monitor = make_monitor(self.project, window_minutes=1)
        assert self.minute_of(0, failed=5) == 1
        Monitor.objects.filter(pk=monitor.pk).update(muted_until=minute(10))
        assert self.minute_of(1, failed=0) == 0
        assert states(monitor) == [("", "resolved")]
        assert kinds(monitor) == ["monitor_critical"]

    def test_no_data_opens_for_a_value_seen_this_week_and_resolves_when_it_is_back(self):
        monitor = make_monitor(self.project, scope="agent", window_minutes=5, no_data=True)
        runs(self.project, 3, agent="writer", at=NOW - timedelta(days=2))
        runs(self.project, 3, agent="support-bot", at=NOW - timedelta(days=8))  # older than a week: forgotten
        runs(self.project, 3, agent="triage")
        assert evaluation.evaluate_monitors(NOW) == 1
        incident = monitor.incidents.get()
        assert (incident.scope_value, incident.state, incident.no_data, incident.last_value) == (
            "writer", "critical", True, None,
        )  # fmt: skip
        runs(self.project, 3, agent="writer", at=NOW + timedelta(seconds=5))
        assert evaluation.evaluate_monitors(minute(1)) == 1
        assert states(monitor) == [("writer", "resolved")]

    def test_no_data_for_the_whole_project(self):
        monitor = make_monitor(self.project, no_data=True)
        evaluation.evaluate_monitors(NOW)
        assert states(monitor) == [("", "critical")]

    def test_an_open_incident_whose_value_sends_nothing_for_a_day_resolves_with_its_message(self):
        monitor = make_monitor(self.project, scope="agent", window_minutes=1)
        self.minute_of(0, failed=5, agent="retired-bot")
        assert states(monitor) == [("retired-bot", "critical")]
        assert evaluation.evaluate_monitors(minute(1) + evaluation.FORGOTTEN - MINUTE) == 0
        assert states(monitor) == [("retired-bot", "critical")]  # a quiet day so far: still open
        assert evaluation.evaluate_monitors(minute(1) + evaluation.FORGOTTEN) == 1
        incident = monitor.incidents.get()
        assert (incident.state, incident.resolved_at) == ("resolved", minute(1) + evaluation.FORGOTTEN)
        assert kinds(monitor) == ["monitor_critical", "monitor_resolved"]

    def test_a_change_of_what_is_watched_closes_open_incidents_silently(self):
        from budgets.monitors import services

        monitor = make_monitor(self.project, window_minutes=1)
        self.minute_of(0, failed=5)
        monitor.metric = "failed_runs"
        monitor.critical = Decimal(100)
        services.monitor_save(monitor)
        assert states(monitor) == [("", "resolved")]
        assert kinds(monitor) == ["monitor_critical"]


class ConcurrencyTests(TestCase):
    def test_the_database_allows_one_open_incident_per_value_and_one_alert_per_incident_state(self):
        project, _ = make_project()
        monitor = make_monitor(project)
        runs(project, 4, failed=4)
        evaluation.evaluate_monitors(NOW)
        incident = monitor.incidents.get()
        with self.assertRaises(IntegrityError), transaction.atomic():
            MonitorIncident.objects.create(monitor=monitor, state="warning", opened_at=NOW, last_evaluated_at=NOW)
        with self.assertRaises(IntegrityError), transaction.atomic():
            Alert.objects.create(monitor=monitor, incident=incident, kind="monitor_critical", period_start=NOW,
                                 next_attempt_at=NOW)  # fmt: skip
        # A second evaluator that read no open incident tries to open one and stands down.
        stale = evaluation.Verdict("critical", Decimal(1), Decimal("0.25"))
        run = evaluation.Pass(NOW, NOW, muted=False)
        assert evaluation._apply(monitor, "", stale, None, run) == 0
        assert Alert.objects.count() == 1


class SlackTests(TestCase):
    def setUp(self) -> None:
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.project, _ = make_project()

    @override_settings(SITE_URL="https://ledger.example")
    def test_an_opened_and_a_resolved_message_reach_slack_through_the_outbox(self):
        Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        make_monitor(self.project, name="Bot failures", scope="agent", window_minutes=1, warning=Decimal("0.1"),
                     critical=Decimal("0.25"))  # fmt: skip
        runs(self.project, 10, failed=4, at=minute(-1))
        evaluation.evaluate_monitors(NOW)
        assert outbox.deliver_due_alerts(NOW) == 1
        runs(self.project, 10, at=NOW)
        evaluation.evaluate_monitors(minute(1))
        assert outbox.deliver_due_alerts(minute(1)) == 1

        opened, resolved = (r.json for r in self.slack.received)
        assert opened["text"] == (
            "Critical: Bot failures, agent support-bot — Run failure rate 40% over the last 1 minute "
            "(threshold: above 25%)"
        )
        header, section, actions = opened["blocks"]
        assert header["text"]["text"] == "Critical: Bot failures, agent support-bot"
        fields = dict(f["text"].split("\n", 1) for f in section["fields"])
        assert fields == {
            "*Metric*": "Run failure rate (failure_rate)",
            "*Scope*": "agent support-bot",
            "*Observed*": "40%",
            "*Threshold*": "above 25%",
            "*Window*": "1 minute",
            "*Open since*": f"{NOW:%Y-%m-%d} 15:00 (UTC)",
        }
        assert actions["elements"][0]["url"].startswith("https://ledger.example/p/acme/")
        assert "agent=support-bot" in actions["elements"][0]["url"]
        assert resolved["blocks"][0]["text"]["text"] == "Resolved: Bot failures, agent support-bot"
        fields = dict(f["text"].split("\n", 1) for f in resolved["blocks"][1]["fields"])
        assert (fields["*Latest value*"], fields["*Threshold*"]) == ("0%", "above 25%")

    def test_a_monitor_with_its_own_destinations_uses_only_those(self):
        Destination.objects.create(project=self.project, name="#all", url=self.slack.url("/all"))
        own = Destination.objects.create(project=self.project, name="#own", url=self.slack.url("/own"))
        monitor = make_monitor(self.project)
        monitor.destinations.set([own])
        runs(self.project, 4, failed=4)
        evaluation.evaluate_monitors(NOW)
        outbox.deliver_due_alerts(NOW)
        assert [r.path for r in self.slack.received] == ["/own"]


class WiringTests(TestCase):
    def test_the_beat_evaluates_monitors_every_minute_through_the_task(self):
        entry = celery_app.conf.beat_schedule["evaluate-monitors"]
        assert (entry["task"], entry["schedule"]) == ("budgets.tasks.evaluate_monitors", crontab(minute="*"))
        project, _ = make_project()
        monitor = make_monitor(project, metric="runs", comparison="below", critical=1, min_volume=0)
        celery_app.tasks[entry["task"]].apply().get()  # no runs in the last five minutes
        assert states(monitor) == [("", "critical")]
        assert kinds(monitor) == ["monitor_critical"]
