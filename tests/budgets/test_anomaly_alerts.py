"""Anomaly rules and alerts end to end: rollup rows in, Alert rows and Slack messages out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.test import TestCase, override_settings

from aggregates.models import RunRollup
from budgets.anomalies import detection
from budgets.anomalies import series as anomaly_series
from budgets.anomalies import services as anomaly_services
from budgets.delivery import outbox
from budgets.models import Alert, AnomalyRule, Destination
from config.celery import app as celery_app
from tests.budgets.helpers import hourly_rollups
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)  # 14:00 is the last complete hour
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 8 days of history before 15:00
HOURS = 8 * 24
SPIKE = HOURS - 1  # the 14:00 bucket


def spike_at(*hours: int) -> Callable[[int], float]:
    return lambda i: 20.0 if i in hours else 2.0


class AnomalyAlertTests(TestCase):
    def setUp(self) -> None:
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.project, _ = make_project()

    def test_every_project_gets_default_rules_without_configuration(self):
        hourly_rollups(self.project, START, HOURS)
        anomaly_services.detect_anomalies(now=NOW)
        rules = AnomalyRule.objects.filter(project=self.project)
        assert sorted(rules.values_list("metric", "scope")) == sorted(anomaly_services.DEFAULT_RULES)
        assert all(rule.enabled and rule.sensitivity == 3.0 for rule in rules)

    def test_a_steady_week_raises_nothing(self):
        hourly_rollups(self.project, START, HOURS)
        assert anomaly_services.detect_anomalies(now=NOW) == 0
        assert not Alert.objects.exists()

    def test_a_cost_spike_is_one_alert_however_often_detection_runs(self):
        hourly_rollups(self.project, START, HOURS, cost=spike_at(SPIKE))
        assert anomaly_services.detect_anomalies(now=NOW) == 1
        assert anomaly_services.detect_anomalies(now=NOW + timedelta(minutes=5)) == 0
        alert = Alert.objects.get()
        assert (alert.kind, alert.metric, alert.scope_value) == ("anomaly", "cost", "support-bot")
        assert alert.period_start == START + SPIKE * timedelta(hours=1)
        assert alert.band_low is not None and alert.band_high is not None and alert.observed is not None
        assert alert.band_low < 2 < alert.band_high < alert.observed
        # An anomaly has a band, not a budget's threshold, spend and amount; it keeps the sensitivity it fired at.
        assert (alert.threshold, alert.spend, alert.amount) == (None, None, None)
        rule = alert.anomaly_rule
        assert rule is not None and alert.sensitivity == rule.sensitivity

    @override_settings(SITE_URL="https://ledger.example")
    def test_the_slack_message_names_metric_scope_value_band_and_links_the_chart(self):
        Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        hourly_rollups(self.project, START, HOURS, cost=spike_at(SPIKE))
        anomaly_services.detect_anomalies(now=NOW)

        assert outbox.deliver_due_alerts(NOW) == 1

        [request] = self.slack.received
        payload = request.json
        assert payload["text"].startswith("Anomaly: Cost per hour, agent support-bot — $")
        header, section, actions = payload["blocks"]
        assert header["text"]["text"] == "Anomaly: Cost per hour, agent support-bot"
        fields = dict(f["text"].split("\n", 1) for f in section["fields"])
        assert fields["*Metric*"] == "Cost per hour"
        assert fields["*Scope*"] == "agent support-bot"
        assert fields["*Observed*"].startswith("$")
        assert " to $" in fields["*Expected band*"]
        assert fields["*Out of band since*"] == "2026-03-10 14:00 (UTC)"
        alert = Alert.objects.get()
        link = urlsplit(actions["elements"][0]["url"])
        org, slug = self.project.organization.slug, self.project.slug
        assert (link.netloc, link.path) == ("ledger.example", f"/p/{org}/{slug}/anomalies/{alert.pk}/")

    def test_a_recovery_is_announced_once_when_the_series_is_back_in_band(self):
        Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        hourly_rollups(self.project, START, HOURS + 1, cost=spike_at(SPIKE))
        anomaly_services.detect_anomalies(now=NOW)
        later = NOW + timedelta(hours=1)  # 15:00 is now complete, and back to normal
        assert anomaly_services.detect_anomalies(now=later) == 1
        assert anomaly_services.detect_anomalies(now=later + timedelta(minutes=5)) == 0
        outbox.deliver_due_alerts(later)
        titles = [r.json["blocks"][0]["text"]["text"] for r in self.slack.received]
        assert sorted(titles) == [
            "Anomaly: Cost per hour, agent support-bot",
            "Recovered: Cost per hour, agent support-bot",
        ]

    def test_a_cost_spike_alerts_during_the_hour_it_happens(self):
        # 15:00 is in progress at 15:07 and has already cost ten times its usual hour.
        hourly_rollups(self.project, START, HOURS + 1, cost=spike_at(HOURS))
        assert anomaly_services.detect_anomalies(now=NOW) == 1
        alert = Alert.objects.get()
        assert (alert.kind, alert.metric) == ("anomaly", "cost")
        assert alert.period_start == datetime(2026, 3, 10, 15, tzinfo=UTC)

    def test_an_hour_in_progress_inside_its_band_is_not_a_recovery(self):
        # 14:00 spiked; 15:00 has barely started, so its small partial cost says nothing yet.
        hourly_rollups(
            self.project, START, HOURS + 1, cost=lambda i: 20.0 if i == SPIKE else (0.1 if i == HOURS else 2.0)
        )
        assert anomaly_services.detect_anomalies(now=NOW) == 1
        assert anomaly_services.detect_anomalies(now=NOW + timedelta(minutes=30)) == 0
        assert list(Alert.objects.values_list("kind", flat=True)) == ["anomaly"]

    def test_a_disabled_rule_stays_quiet(self):
        hourly_rollups(self.project, START, HOURS, cost=spike_at(SPIKE))
        anomaly_services.ensure_default_rules(self.project)
        AnomalyRule.objects.filter(metric="cost").update(enabled=False)
        assert anomaly_services.detect_anomalies(now=NOW) == 0

    def test_a_rule_on_another_agent_does_not_watch_this_one(self):
        hourly_rollups(self.project, START, HOURS, cost=spike_at(SPIKE))
        AnomalyRule.objects.create(project=self.project, metric="cost", scope="agent", scope_value="other-bot")
        assert anomaly_services.detect_anomalies(now=NOW) == 0

    def test_a_failure_burst_alerts_on_the_failure_rate(self):
        hourly_rollups(self.project, START, HOURS, failed=lambda i: 20 if i == SPIKE else 1)
        anomaly_services.detect_anomalies(now=NOW)
        assert list(Alert.objects.values_list("metric", "scope_value")) == [("failure_rate", "support-bot")]

    def test_an_old_spike_is_left_alone_unless_backfilled_and_then_recorded_once(self):
        old = SPIKE - 48  # two days ago, long recovered
        hourly_rollups(self.project, START - timedelta(days=3), HOURS + 72, cost=spike_at(old + 72))
        assert anomaly_services.detect_anomalies(now=NOW) == 0
        assert anomaly_services.detect_anomalies(now=NOW, backfill=timedelta(hours=72)) == 2
        assert anomaly_services.detect_anomalies(now=NOW, backfill=timedelta(hours=72)) == 0
        kinds = sorted(Alert.objects.values_list("kind", "period_start"))
        spike_hour = START + old * timedelta(hours=1)
        assert kinds == [("anomaly", spike_hour), ("recovered", spike_hour)]

    def test_busy_weekends_do_not_alert_once_past_weeks_show_them(self):
        saturday = datetime(2026, 3, 14, 15, 7, tzinfo=UTC)
        since = datetime(2026, 3, 14, 15, 0, tzinfo=UTC) - timedelta(days=35)

        def weekend_heavy(i: int) -> float:
            return 6.0 if (since + i * timedelta(hours=1)).weekday() >= 5 else 2.0

        hourly_rollups(self.project, since, 35 * 24, cost=weekend_heavy)
        assert anomaly_services.detect_anomalies(now=saturday) == 0
        # With only the 7-day window, the same Saturday would look like a spike.
        RunRollup.objects.filter(bucket__lt=saturday - timedelta(days=8)).delete()
        assert anomaly_services.detect_anomalies(now=saturday) > 0


class AnomalyWiringTests(TestCase):
    def test_detection_runs_on_the_beat_schedule_a_few_minutes_after_each_rollup(self):
        entry = celery_app.conf.beat_schedule["detect-anomalies"]
        assert entry["task"] == "budgets.tasks.detect_anomalies"
        assert "budgets.tasks.detect_anomalies" in celery_app.tasks
        assert sorted(entry["schedule"].minute) == list(range(2, 60, 5))

    def test_rules_are_listed_and_editable_in_the_admin(self):
        project, _ = make_project()
        rule = anomaly_services.ensure_default_rules(project)[0]
        admin = User.objects.create_superuser("root", password="x")
        self.client.force_login(admin)
        body = self.client.get("/admin/budgets/anomalyrule/").content.decode()
        assert "Cost per hour" in body and "every agent" in body
        assert self.client.get(f"/admin/budgets/anomalyrule/{rule.pk}/change/").status_code == 200


class SeriesTests(TestCase):
    def test_each_metric_is_read_per_agent_and_for_the_project(self):
        project, _ = make_project()
        hourly_rollups(project, START, 30)
        hourly_rollups(project, START, 30, agent="writer", runs=10, failed=lambda i: 0)
        series = anomaly_series.hourly_series(project, START, START + timedelta(hours=30))
        bot, total = ("agent", "support-bot"), ("project", "")
        assert set(series) == set(detection.METRICS) - {"score_pass_rate", "score_mean"}  # scores: by name
        assert set(series["cost"]) == {bot, ("agent", "writer"), total}
        assert len(series["cost"][bot]) == 30 and 1.5 < series["cost"][bot][0].value < 2.5
        assert series["runs"][total][0].value == 50
        assert series["failure_rate"][bot][0].value == 1 / 40
        assert series["failure_rate"][total][0].value == 1 / 50
        assert series["tokens_per_run"][total][0].value == 1500
        p95 = series["latency_p95"][bot][0]
        assert 3000 < p95.value < 3600 and p95.volume == 40
        assert series["tool_error_rate"] == {}
