"""The Monitors pages: the list with state, thresholds and current values in the metric's unit;
one-click templates; a monitor's chart, incidents and alerts; monitor alerts on the Alerts page
and the overview; another project's monitor is a 404."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.html import escape

from aggregates import deltas
from budgets.models import Destination
from budgets.monitors import evaluation
from budgets.monitors.models import Monitor
from budgets.monitors.templates import TEMPLATES
from tenancy.models import Membership
from tests.dashboard.test_overview import DashboardTestCase
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest


def make_monitor(project, **kwargs: Any) -> Monitor:
    fields: dict[str, Any] = {"name": "Agent failures", "metric": "failure_rate", "scope": "agent",
                              "window_minutes": 5, "warning": Decimal("0.1"), "critical": Decimal("0.25"),
                              "min_volume": 1}  # fmt: skip
    fields.update(kwargs)
    monitor = Monitor(project=project, **fields)
    monitor.full_clean()
    monitor.save()
    return monitor


def chart(body: str) -> dict:
    opening = '<script id="monitor-chart" type="application/json">'
    start = body.index(opening) + len(opening)
    return json.loads(body[start : body.index("</script>", start)])


class MonitorPagesTests(DashboardTestCase):
    def setUp(self):
        super().setUp()
        if timezone.now().second >= 50:  # the page reads the clock too: keep the test in one minute
            time.sleep(60.5 - timezone.now().second)
        self.now = timezone.now()
        self.minute = self.now.replace(second=0, microsecond=0)

    def traffic(self):
        """Two minutes ago: planner 2 runs, both failed; writer 4 runs, none failed."""
        at = self.minute - timedelta(minutes=2)
        for i in range(2):
            ingest(self.project, agent_run(at + timedelta(seconds=i), agent="planner", failed=True))
        for i in range(4):
            ingest(self.project, agent_run(at + timedelta(seconds=10 + i), agent="writer"))

    def test_the_list_shows_state_thresholds_and_values_in_the_metrics_unit(self):
        monitor = make_monitor(self.project)
        make_monitor(self.project, name="Slow runs", metric="latency_p95", scope="project", warning=None,
                     critical=Decimal(5000), enabled=False)  # fmt: skip
        self.traffic()
        evaluation.evaluate_monitors(self.now)
        body = self.client.get(f"{self.url}monitors/").content.decode()
        assert f'href="{self.url}monitors/{monitor.pk}/"' in body
        assert "Run failure rate, each agent" in body
        assert '<span class="badge warning">10%</span> <span class="badge exceeded">25%</span>' in body
        assert "above" in body
        assert ">critical</span>" in body
        assert "1 open incident" in body
        assert "planner: 100%<br>writer: 0%" in body  # worst first
        assert "5,000 ms" in body
        assert ">disabled</span>" in body
        assert "Add from a template" in body  # still offered
        assert "No monitors yet" not in body
        assert 'href="/admin/budgets/monitor/add/' in body

    def test_never_evaluated_values_are_measured_now(self):
        make_monitor(self.project)
        self.traffic()
        deltas.apply_pending()
        body = self.client.get(f"{self.url}monitors/").content.decode()
        assert "planner: 100%<br>writer: 0%" in body
        assert ">ok</span>" in body  # no evaluation yet: no incident

    def test_no_monitors_explains_them_and_offers_every_template(self):
        body = self.client.get(f"{self.url}monitors/").content.decode()
        assert "No monitors yet" in body
        assert "POST /api/v1/monitors" in body
        for fields in TEMPLATES.values():
            assert escape(fields["name"]) in body
        assert "Only the organization's editors and admins can add monitors." in body  # ann is a viewer

    def test_a_template_post_creates_the_monitor_for_the_project_and_opens_it(self):
        Destination.objects.create(project=self.project, name="ops", url="https://hooks.slack.com/services/T/B/x")
        editor = make_user("eve", organization=self.project.organization, role=Membership.Role.EDITOR)
        self.client.force_login(editor)
        response = self.client.post(f"{self.url}monitors/new", {"template": "agent-success-rate"})
        monitor = Monitor.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"{self.url}monitors/{monitor.pk}/"
        assert (monitor.project, monitor.name, monitor.metric, monitor.scope, monitor.critical) == (
            self.project, "Success rate below 99% over 5 minutes, each agent", "failure_rate", "agent",
            Decimal("0.01"),
        )  # fmt: skip
        assert not monitor.destinations.exists()  # none chosen: every destination of the project
        page = self.client.get(response["Location"]).content.decode()
        assert "every destination of the project" in page
        listing = self.client.get(f"{self.url}monitors/").content.decode()
        assert "already added" in listing

    def test_viewers_and_unknown_templates_cannot_create(self):
        assert self.client.post(f"{self.url}monitors/new", {"template": "agent-success-rate"}).status_code == 403
        self.client.force_login(make_user("eve", organization=self.project.organization, role=Membership.Role.ADMIN))
        assert self.client.post(f"{self.url}monitors/new", {"template": "nope"}).status_code == 400
        assert not Monitor.objects.exists()

    def test_the_detail_charts_each_value_with_threshold_lines_and_incidents(self):
        monitor = make_monitor(self.project)
        self.traffic()
        evaluation.evaluate_monitors(self.now)
        response = self.client.get(f"{self.url}monitors/{monitor.pk}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-chart="monitor-chart"' in body
        figure = chart(body)
        traces = {trace["name"]: trace for trace in figure["data"]}
        assert {"planner", "writer", "warning: above 10%", "critical: above 25%"} <= set(traces)
        two_ago = (self.minute - timedelta(minutes=2)).replace(tzinfo=None).isoformat()  # the project is on UTC
        assert dict(zip(traces["planner"]["x"], traces["planner"]["y"], strict=True)) == {two_ago: 1.0}
        assert traces["writer"]["y"] == [0.0]
        assert traces["critical: above 25%"]["y"] == [0.25, 0.25]
        assert traces["warning: above 10%"]["y"] == [0.1, 0.1]
        until = self.minute + timedelta(minutes=1)  # the minute in progress included
        span = [(until - timedelta(hours=6)).replace(tzinfo=None).isoformat(), until.replace(tzinfo=None).isoformat()]
        assert figure["layout"]["xaxis"]["range"] == span
        [shade] = figure["layout"]["shapes"]  # planner's open incident
        assert shade["x0"] == self.minute.replace(tzinfo=None).isoformat()
        assert shade["fillcolor"].startswith("rgba(214, 39, 40")  # critical
        incidents = body[body.index('data-testid="monitor-incidents"') :]
        assert "planner" in incidents
        assert "100%" in incidents
        assert "(above 25%)" in incidents
        assert "monitor_critical" not in body
        assert ">critical</span>" in body
        assert "the monitor</a>" in body  # its alert, in the recent alerts
        assert "queued" in body  # its delivery state

    def test_the_chart_reads_the_minute_rows_in_one_query(self):
        monitor = make_monitor(self.project, scope="project", warning=None)
        self.traffic()
        for minutes in (30, 90, 200):  # one run a minute, the middle one failed
            ingest(self.project, agent_run(self.minute - timedelta(minutes=minutes), failed=minutes == 90))
        deltas.apply_pending()
        url = f"{self.url}monitors/{monitor.pk}/"
        self.client.get(url)
        # session, user, project, profile, monitor, destinations, open incidents, the current
        # value (never evaluated), the chart's minute rows, its incidents, switcher, alerts
        with self.assertNumQueries(12):
            body = self.client.get(url).content.decode()
        assert chart(body)["data"][0]["y"] == [0.0, 1.0, 0.0, 0.333333]

    def test_another_projects_monitor_is_a_404(self):
        other, _ = make_project("Rival", org_slug="rival")
        theirs = make_monitor(other)
        assert self.client.get(f"{self.url}monitors/{theirs.pk}/").status_code == 404
        assert self.client.get(f"/p/rival/rival/monitors/{theirs.pk}/").status_code == 404
        assert "Agent failures" not in self.client.get(f"{self.url}monitors/").content.decode()

    def test_the_alerts_page_and_the_overview_list_monitor_alerts(self):
        monitor = make_monitor(self.project)
        self.traffic()
        evaluation.evaluate_monitors(self.now)
        alerts = self.client.get(f"{self.url}alerts/").content.decode()
        assert '<span class="badge exceeded">critical</span>' in alerts
        assert "Agent failures, Run failure rate, agent planner" in alerts
        assert "100% (threshold: above 25%)" in alerts
        assert f'href="{self.url}monitors/{monitor.pk}/" data-testid="monitor-link"' in alerts
        overview = self.client.get(self.url).content.decode()
        assert f'href="{self.url}monitors/{monitor.pk}/" data-testid="monitor-link"' in overview
