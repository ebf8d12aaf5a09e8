"""Score alerts: a drop in quality is caught like a cost spike (against the 7-day baseline, bad
direction down), or under a static floor ("pass rate of grounded below 90%, at least 20 runs")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import TestCase

from budgets.anomalies import services as anomaly_services
from budgets.delivery import outbox
from budgets.models import Alert, AnomalyRule, Destination
from scores.models import ScoreRollup
from tests.factories import make_project
from tests.fakes.slack_server import FakeSlack, fake_slack

NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)  # 14:00 is the last complete hour
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 8 days of history before 15:00
HOURS = 8 * 24
DROP = HOURS - 1  # the 14:00 bucket


def pass_rates(project, rate: Callable[[int], float], *, scored: int = 40, name: str = "grounded", seed: int = 5):
    """Hourly score rollups of support-bot: `scored` pass/fail scores an hour passing at rate(i),
    with binomial noise (fixed seed)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(HOURS):
        passed = int(rng.binomial(scored, rate(i)))
        rows.append(
            ScoreRollup(
                project=project,
                bucket=START + i * timedelta(hours=1),
                agent_name="support-bot",
                name=name,
                scores=scored,
                value_sum=passed,
                booleans=scored,
                passed=passed,
                runs=scored,
                passing_runs=passed,
            )
        )
    ScoreRollup.objects.bulk_create(rows)


class ScoreAnomalyTests(TestCase):
    def setUp(self):
        self.project, _ = make_project()

    def test_a_steady_week_of_scores_never_alerts(self):
        pass_rates(self.project, lambda i: 0.95)
        assert anomaly_services.detect_anomalies(now=NOW) == 0
        rule = AnomalyRule.objects.get(project=self.project, score_name="grounded")
        assert (rule.metric, rule.scope, rule.floor) == ("score_pass_rate", "agent", None)  # created by itself

    def test_a_pass_rate_drop_is_alerted_once_in_its_hour(self):
        pass_rates(self.project, lambda i: 0.5 if i == DROP else 0.95)
        assert anomaly_services.detect_anomalies(now=NOW) == 1
        assert anomaly_services.detect_anomalies(now=NOW + timedelta(minutes=5)) == 0
        alert = Alert.objects.get()
        assert (alert.metric, alert.scope_value, alert.anomaly_rule.score_name) == (
            "score_pass_rate",
            "support-bot",
            "grounded",
        )
        assert alert.period_start == START + DROP * timedelta(hours=1)
        assert alert.observed < alert.band_low < alert.expected

    def test_a_rise_in_quality_is_not_an_incident(self):
        pass_rates(self.project, lambda i: 1.0 if i == DROP else 0.6)
        assert anomaly_services.detect_anomalies(now=NOW) == 0

    def test_a_static_floor_alerts_below_it_given_enough_runs(self):
        AnomalyRule.objects.create(project=self.project, metric="score_pass_rate", scope="agent",
                                   score_name="grounded", floor=0.9, min_volume=20)  # fmt: skip
        pass_rates(self.project, lambda i: 0.85 if i == DROP else 0.97, seed=1)
        assert anomaly_services.detect_anomalies(now=NOW) == 1
        alert = Alert.objects.get()
        assert alert.anomaly_rule.floor == 0.9 and float(alert.observed) < 0.9

    def test_a_static_floor_ignores_hours_with_too_few_runs(self):
        AnomalyRule.objects.create(project=self.project, metric="score_pass_rate", scope="agent",
                                   score_name="grounded", floor=0.9, min_volume=20)  # fmt: skip
        pass_rates(self.project, lambda i: 0.3, scored=10)
        assert anomaly_services.detect_anomalies(now=NOW) == 0

    def test_the_slack_message_names_the_score_and_the_floor(self):
        slack: FakeSlack = self.enterContext(fake_slack())
        Destination.objects.create(project=self.project, name="#quality", url=slack.url())
        AnomalyRule.objects.create(project=self.project, metric="score_pass_rate", scope="agent",
                                   score_name="grounded", floor=0.9, min_volume=20)  # fmt: skip
        pass_rates(self.project, lambda i: 0.5 if i == DROP else 0.97)
        anomaly_services.detect_anomalies(now=NOW)
        outbox.deliver_due_alerts(NOW)
        texts = [r.json["text"] for r in slack.received]
        assert any(
            t.startswith("Anomaly: Score pass rate of grounded, agent support-bot — ") and "at least 90.0%" in t
            for t in texts
        ), texts

    def test_a_score_rule_must_name_its_score(self):
        rule = AnomalyRule(project=self.project, metric="score_mean", scope="agent")
        with pytest.raises(ValidationError) as raised:
            rule.full_clean()
        assert set(raised.value.message_dict) == {"score_name"}
        cost = AnomalyRule(project=self.project, metric="cost", scope="agent", floor=0.5)
        with pytest.raises(ValidationError) as raised:
            cost.full_clean()
        assert set(raised.value.message_dict) == {"floor"}
