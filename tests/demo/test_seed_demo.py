"""`seed_demo` end to end: it serves the app on a loopback port, posts OTLP/protobuf exports
to it, and the runs land in the Demo project with everything the dashboard shows.

The app answers from its own thread, so the data must be committed: TransactionTestCase, as
the live-server tests do."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.test import TransactionTestCase
from django.utils import timezone
from django.utils.html import escape

from aggregates.models import RunRollup
from budgets.delivery import outbox
from budgets.models import Alert, Destination
from budgets.monitors.models import MonitorIncident
from demo import traffic
from ingest.models import Run, Span
from scores.models import Score
from tenancy.models import ApiKey, Membership, Project
from tests import processes
from tests.fakes.slack_server import FakeSlack, fake_slack
from tests.processes import free_port

SMALL = ["--days", "7", "--runs-per-day", "20"]


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *SMALL, *args, stdout=out)
    return out.getvalue()


def midnight(days_ago: int) -> datetime:
    today = timezone.now().astimezone(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=days_ago)


class SeedDemoTests(TransactionTestCase):
    def setUp(self):
        self.root = User.objects.create_superuser("root", "root@example.com", "pw")
        self.ann = User.objects.create_user("ann", password="pw")

    def test_seeds_the_demo_project_through_the_otlp_endpoint(self):
        output = seed("--user", "ann")

        project = Project.objects.get(organization__slug="default", slug="demo")
        assert "/p/default/demo/" in output
        members = Membership.objects.filter(organization=project.organization)
        assert {m.user.username: m.role for m in members} == {"root": "admin", "ann": "editor"}
        runs = Run.objects.filter(project=project)
        assert runs.count() >= 50
        assert set(runs.values_list("agent_name", flat=True)) == {a.name for a in traffic.AGENTS}
        assert runs.values("user_id").distinct().count() >= 10
        sessions = runs.exclude(session_id="").values("session_id").annotate(n=Count("pk"))
        assert any(s["n"] > 1 for s in sessions), "some conversations span several runs"
        assert runs.aggregate(cost=Sum("cost_usd"))["cost"] > 0

    def test_runs_carry_models_tools_messages_failures_and_an_unpriced_model(self):
        seed()
        spans = Span.objects.filter(project__slug="demo")
        llm = spans.filter(kind="llm")
        assert {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", traffic.UNPRICED_MODEL} <= set(
            llm.values_list("request_model", flat=True)
        )
        priced = llm.filter(request_model="gpt-4o-mini").exclude(cost_usd=None).first()
        assert priced.cost_source == "computed" and priced.cache_read_tokens is not None
        assert priced.input[-1]["role"] in ("user", "tool") and priced.output[0]["role"] == "assistant"
        unpriced = llm.filter(request_model=traffic.UNPRICED_MODEL).exclude(input_tokens=None).first()
        assert unpriced.cost_usd is None and unpriced.cost_source == "unpriced"
        assert Run.objects.filter(project__slug="demo", unpriced_calls__gt=0).exists()
        tools = set(spans.filter(kind="tool").values_list("tool_name", flat=True))
        assert {"fetch_url", "web_search", "sql_query", "vector_search"} <= tools
        assert spans.filter(kind="tool", is_error=True).exists()
        failed = Run.objects.filter(project__slug="demo", status="error").first()
        assert failed is not None and failed.error_message
        root = spans.get(trace_id=failed.trace_id, span_id=failed.root_span_id)
        exception = next(e for e in root.events if e["name"] == "exception")
        assert "Traceback" in exception["attributes"]["exception.stacktrace"]
        assert RunRollup.objects.filter(project__slug="demo").exists(), "rollups are brought up to date"

    def test_the_spike_day_costs_several_normal_days_for_the_spiking_agent(self):
        seed()
        runs = Run.objects.filter(project__slug="demo", agent_name=traffic.SPIKE_AGENT)
        cost = {
            days_ago: runs.filter(start_time__gte=midnight(days_ago), start_time__lt=midnight(days_ago - 1)).aggregate(
                cost=Sum("cost_usd")
            )["cost"]
            or Decimal(0)
            for days_ago in range(1, 7)  # the whole days seeded
        }
        spike = cost.pop(2)  # the day before yesterday
        normal = sum(cost.values()) / len(cost)
        assert spike > 4 * normal, (spike, cost)

    def test_seeding_twice_reuses_the_project_with_a_new_key(self):
        seed()
        first = Run.objects.filter(project__slug="demo").count()
        seed()
        project = Project.objects.get(slug="demo")
        assert Project.objects.count() == 1
        assert ApiKey.objects.filter(project=project).count() == 2
        assert Run.objects.filter(project=project).count() > first
        assert Membership.objects.filter(organization=project.organization, user=self.root).count() == 1

    def test_an_unreachable_server_fails_loudly(self):
        with pytest.raises(CommandError, match="cannot reach"):
            seed("--url", f"http://127.0.0.1:{free_port()}")

    def test_an_unknown_user_is_refused(self):
        with pytest.raises(CommandError, match="no user named 'nobody'"):
            seed("--user", "nobody")

    def test_the_spike_is_an_anomaly_alert_sent_to_slack_and_shown_with_its_chart(self):
        output = seed()
        assert "alerts: " in output
        project = Project.objects.get(slug="demo")
        spike = Alert.objects.get(anomaly_rule__project=project, kind=Alert.Kind.ANOMALY, metric="cost",
                                  scope_value=traffic.SPIKE_AGENT)  # fmt: skip
        assert spike.period_start.date() == traffic.spike_day(timezone.now(), 7).date()

        slack: FakeSlack = self.enterContext(fake_slack())
        Destination.objects.create(project=project, name="#ops", url=slack.url())
        outbox.deliver_due_alerts(timezone.now() + timedelta(hours=2))  # past the no-destination retry
        texts = [r.json["text"] for r in slack.received]
        assert any("Cost per hour" in t and traffic.SPIKE_AGENT in t for t in texts), texts

        self.client.force_login(self.root)
        alerts_page = self.client.get("/p/default/demo/alerts/").content.decode()
        assert f"/p/default/demo/anomalies/{spike.pk}/" in alerts_page
        chart = self.client.get(f"/p/default/demo/anomalies/{spike.pk}/").content.decode()
        assert 'data-chart="anomaly-chart"' in chart

    def test_an_online_evaluator_grades_some_runs_and_the_scores_page_shows_them(self):
        seed()
        project = Project.objects.get(slug="demo")
        scores = Score.objects.filter(project=project, source="otel")
        graded = scores.filter(name="grounded").values("trace_id").distinct().count()
        runs = Run.objects.filter(project=project).count()
        assert 0.3 * runs < graded < 0.9 * runs, (graded, runs)
        assert set(scores.values_list("name", flat=True)) == {"grounded", "helpfulness"}
        assert scores.filter(name="grounded", value=0).exists() and scores.filter(name="grounded", value=1).exists()

        self.client.force_login(self.root)
        rows = dict(self.client.get("/p/default/demo/scores/", {"since": "7d"}).context["rows"])
        assert 0.5 < rows["grounded"].pass_rate < 1 and rows["helpfulness"].pass_rate is None

    def test_demo_monitors_are_judged_over_the_last_hours_and_listed_on_the_monitors_page(self):
        output = seed("--days", "1", "--runs-per-day", "300")
        project = Project.objects.get(slug="demo")
        monitors = list(project.monitors.order_by("pk"))
        assert len(monitors) == 3 and "monitors: 3 on the Monitors page" in output
        minute = timezone.now().replace(second=0, microsecond=0)
        assert all(minute - m.last_evaluated_at <= timedelta(minutes=1) for m in monitors)
        opened = Alert.objects.filter(monitor__project=project, kind__in=["monitor_warning", "monitor_critical"])
        incidents = MonitorIncident.objects.filter(monitor__project=project)
        assert opened.values("incident").distinct().count() == incidents.count()  # each one announced

        self.client.force_login(self.root)
        page = self.client.get("/p/default/demo/monitors/").content.decode()
        assert all(escape(m.name) in page for m in monitors)
        chart = self.client.get(f"/p/default/demo/monitors/{monitors[0].pk}/").content.decode()
        assert 'data-chart="monitor-chart"' in chart
        seed("--days", "1")
        assert project.monitors.count() == 3  # seeding again keeps the project's monitors


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class DemoLinkTests(TransactionTestCase):
    """`make demo` in a second terminal: the link it prints is where the dashboard is, never the
    temporary server it sent the traces through. Real processes: `make run`'s serve and seed_demo."""

    def setUp(self):
        self.var = Path(self.enterContext(tempfile.TemporaryDirectory()))

    def env(self, **extra: str) -> dict[str, str]:
        env = processes.child_env(AGENTLEDGER_VAR_DIR=str(self.var), **extra)
        for name in ("PORT", "SITE_URL", "HOST"):
            if name not in extra:
                env.pop(name, None)
        return env

    def make_demo(self, env: dict[str, str]) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "seed_demo", "--days", "2", "--runs-per-day", "10"],
            cwd=processes.ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def test_the_link_follows_port_and_never_names_the_temporary_server(self):
        port = free_port()  # where `PORT=… make run` will serve; nothing listens there yet
        output = self.make_demo(self.env(PORT=str(port)))
        assert f"open:   http://127.0.0.1:{port}/p/default/demo/" in output
        assert "start `make run` if it is not running" in output
        assert set(re.findall(r"127\.0\.0\.1:(\d+)", output)) == {str(port)}, output
        assert "temporary server" in output

    def test_beside_a_running_make_run_the_link_is_the_port_it_serves_on(self):
        port = free_port()
        log = self.var / "serve.log"
        serve = [sys.executable, "manage.py", "serve", "--web-workers", "1", "--no-worker"]
        with processes.running(
            serve, env=self.env(PORT=str(port), AGENTLEDGER_ADMIN_PASSWORD="pw-for-tests"), log=log
        ) as proc:
            processes.wait_for(lambda: healthy(f"http://127.0.0.1:{port}/healthz"), timeout=90, what="serve")
            output = self.make_demo(self.env())  # no PORT in this terminal
            assert f"open:   http://127.0.0.1:{port}/p/default/demo/" in output, output
            assert "start `make run`" not in output
            assert set(re.findall(r"127\.0\.0\.1:(\d+)", output)) == {str(port)}, output
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        assert not (self.var / "server-url").exists()  # a stopped server is not linked to
        output = self.make_demo(self.env())
        assert "open:   http://127.0.0.1:8000/p/default/demo/   (start `make run` if it is not running)" in output
