"""The anomaly page: the series, its band and the flagged hours; reachable from alerts and the
overview; another organization's alert is a 404."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from budgets.anomalies import services as anomaly_services
from budgets.models import Alert
from ingest import timeranges
from tests.budgets.helpers import hourly_rollups
from tests.dashboard.test_overview import DashboardTestCase
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest

HOURS = 8 * 24


class AnomalyPageTests(DashboardTestCase):
    def setUp(self):
        super().setUp()
        self.now = timezone.now()
        self.spike_hour = timeranges.floor_hour(self.now) - timedelta(hours=1)
        start = self.spike_hour - (HOURS - 1) * timedelta(hours=1)
        hourly_rollups(self.project, start, HOURS, cost=lambda i: 25.0 if i == HOURS - 1 else 2.0)
        anomaly_services.detect_anomalies(now=self.now)
        self.alert = Alert.objects.get(kind="anomaly")
        self.page = f"{self.url}anomalies/{self.alert.pk}/"

    def chart(self, body: str) -> dict:
        start = body.index('<script id="anomaly-chart" type="application/json">') + len(
            '<script id="anomaly-chart" type="application/json">'
        )
        return json.loads(body[start : body.index("</script>", start)])

    def test_the_chart_has_the_series_its_band_and_the_flagged_hour(self):
        response = self.client.get(self.page)
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-chart="anomaly-chart"' in body
        assert "Anomaly: Cost per hour, agent support-bot" in body
        traces = {trace["name"]: trace for trace in self.chart(body)["data"]}
        assert {"band high", "expected band", "expected", "Cost per hour", "anomaly"} <= set(traces)
        spike = self.spike_hour.replace(tzinfo=None).isoformat()  # the project is on UTC
        series = dict(zip(traces["Cost per hour"]["x"], traces["Cost per hour"]["y"], strict=True))
        assert len(series) == 49  # two days before the incident hour, and the hour
        assert series[spike] > 20
        assert traces["anomaly"]["x"] == [spike]
        band_high = dict(zip(traces["band high"]["x"], traces["band high"]["y"], strict=True))
        assert all(1.5 < band_high[x] < 20 for x in band_high)

    def test_the_alerts_page_and_the_overview_link_to_the_chart(self):
        ingest(self.project, agent_run(self.now - timedelta(minutes=5), calls=[("gpt-4o", "0.1", 1.0)]))
        for url in (f"{self.url}alerts/", self.url):
            body = self.client.get(url).content.decode()
            assert f'href="{self.page}"' in body, url

    def test_another_organizations_member_gets_a_404(self):
        other, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("bob", organization=other.organization))
        assert self.client.get(self.page).status_code == 404
        assert self.client.get(f"/p/rival/rival/anomalies/{self.alert.pk}/").status_code == 404

    def test_a_budget_alert_id_is_not_an_anomaly_page(self):
        other_alert = Alert.objects.create(
            anomaly_rule=None,
            budget=None,
            period_start=self.now,
            threshold=80,
            spend=0,
            amount=1,
            next_attempt_at=self.now,
        )
        assert self.client.get(f"{self.url}anomalies/{other_alert.pk}/").status_code == 404
