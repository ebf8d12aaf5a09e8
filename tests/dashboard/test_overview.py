"""Overview page: totals with change vs the previous period, charts, failing tools, budgets,
alerts; empty state; scoping; sign-in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.test import Client, TestCase
from django.utils import timezone

from aggregates import rollups
from budgets.delivery import outbox
from budgets.models import Alert, AnomalyRule, Budget, Destination
from tenancy import services as tenancy_services
from tenancy.models import UserProfile
from tests.factories import make_project, make_user
from tests.fakes.slack_server import FakeSlack, fake_slack
from tests.ingest.spans import agent_run, ingest


def midnight(days_ago: int) -> datetime:
    today = timezone.now().astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days_ago), time.min, tzinfo=UTC)


class DashboardTestCase(TestCase):
    url = "/p/acme/acme-agents/"

    def setUp(self):
        self.project, _ = make_project("Acme agents", org_slug="acme")
        self.user = make_user("ann", organization=self.project.organization)
        self.client.force_login(self.user)

    def seed(self):
        """Yesterday: planner 2 runs ($0.40, one failed, a failing tool), writer 1 run ($0.03).
        The day before: one planner run ($0.10)."""
        y = midnight(1)
        ingest(self.project, agent_run(y + timedelta(hours=2), agent="planner",
               calls=[("gpt-4o", "0.10", 1.0), ("claude-x", "0.20", 2.0)], tools=[("search", True, 0.5)]))  # fmt: skip
        ingest(self.project, agent_run(y + timedelta(hours=5), agent="planner", calls=[("gpt-4o", "0.10", 1.0)],
               failed=True, tools=[("search", False, 0.2)]))  # fmt: skip
        ingest(self.project, agent_run(y + timedelta(hours=9), agent="writer", calls=[("gpt-4o", "0.03", 1.0)]))
        ingest(self.project, agent_run(y - timedelta(hours=3), agent="planner", calls=[("gpt-4o", "0.10", 1.0)]))
        rollups.rollup_until_current()


class OverviewTests(DashboardTestCase):
    def test_new_project_shows_how_to_send_traces_with_its_endpoint(self):
        response = self.client.get(self.url)
        assert response.status_code == 200
        body = response.content.decode()
        assert "No runs yet in Acme agents" in body
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://testserver/v1/traces" in body
        assert "Authorization=Bearer" in body

    def test_yesterday_totals_and_change_vs_the_day_before(self):
        self.seed()
        response = self.client.get(self.url, {"since": "yesterday"})
        body = response.content.decode()
        assert response.context["totals"]["cost_usd"] == Decimal("0.43")
        assert response.context["totals"]["runs"] == 3
        assert '<div class="value" data-testid="kpi-cost">$0.43</div>' in body
        assert '<div class="value" data-testid="kpi-runs">3</div>' in body
        assert "+330%" in body  # $0.43 vs $0.10 the day before
        assert '<div class="value" data-testid="kpi-failures">33.3%</div>' in body

    def test_agents_models_and_failing_tools_are_listed_with_links(self):
        self.seed()
        body = self.client.get(self.url, {"since": "yesterday"}).content.decode()
        assert "/p/acme/acme-agents/cost/?since=yesterday&amp;agent=planner&amp;group_by=model" in body
        assert "$0.40" in body  # planner
        assert "claude-x" in body and "gpt-4o" in body
        assert '<a href="/p/acme/acme-agents/tools/search/?since=yesterday">search</a>' in body

    def test_cost_chart_is_stacked_by_agent_or_by_model(self):
        self.seed()
        by_agent = self.client.get(self.url, {"since": "yesterday"}).context["cost_chart"]
        assert sorted(trace["name"] for trace in by_agent["data"]) == ["planner", "writer"]
        by_model = self.client.get(self.url, {"since": "yesterday", "stack": "model"}).context["cost_chart"]
        assert sorted(trace["name"] for trace in by_model["data"]) == ["claude-x", "gpt-4o"]
        assert round(sum(sum(trace["y"]) for trace in by_model["data"]), 6) == 0.43

    def test_switching_the_stack_with_htmx_returns_only_the_chart_card(self):
        self.seed()
        response = self.client.get(
            self.url, {"stack": "model"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="cost-chart-card"
        )
        body = response.content.decode()
        assert body.lstrip().startswith('<section class="card" id="cost-chart-card">')
        assert "<html" not in body
        assert "Cost over time by model" in body

    def test_budgets_near_their_limit_and_recent_alerts(self):
        self.seed()
        budget = Budget.objects.create(
            project=self.project, name="Planner monthly", scope=Budget.Scope.AGENT, scope_value="planner",
            period=Budget.Period.MONTH, amount_usd=Decimal("0.50"),
        )  # fmt: skip
        Alert.objects.create(
            budget=budget, period_start=midnight(1), threshold=Decimal(80), spend=Decimal("0.41"),
            amount=Decimal("0.50"), next_attempt_at=timezone.now(),
        )  # fmt: skip
        body = self.client.get(self.url).content.decode()
        assert "Planner monthly" in body
        assert "of $0.50" in body
        assert "80%</span>" in body
        assert "queued" in body

    def test_a_bad_range_is_explained_and_the_default_shown(self):
        self.seed()
        response = self.client.get(self.url, {"since": "last tuesday"})
        assert response.status_code == 200
        assert "Range ignored" in response.content.decode()
        assert response.context["page"].since == "7d"

    def test_query_count_does_not_grow_with_data(self):
        self.seed()
        self.client.get(self.url)
        with self.assertNumQueries(19):
            self.client.get(self.url)
        for hour in range(10):
            ingest(self.project, agent_run(midnight(2) + timedelta(hours=hour), agent=f"agent-{hour}",
                   calls=[(f"model-{hour}", "0.01", 1.0)], tools=[(f"tool-{hour}", True, 0.1)]))  # fmt: skip
        rollups.rollup_until_current()
        with self.assertNumQueries(19):
            self.client.get(self.url)


class AlertDeliveryStateTests(DashboardTestCase):
    """The overview's recent alerts say where each one stands; one with nowhere to go says so
    and how to fix it, and is never shown as retrying."""

    def setUp(self):
        super().setUp()
        self.slack: FakeSlack = self.enterContext(fake_slack())
        self.api = Client(
            HTTP_AUTHORIZATION=f"Bearer {tenancy_services.api_key_create(self.project, name='t').raw_key}"
        )
        self.seed()
        now = timezone.now()
        self.budget = Budget.objects.create(
            project=self.project, name="Planner monthly", scope=Budget.Scope.AGENT, scope_value="planner",
            period=Budget.Period.MONTH, amount_usd=Decimal("0.50"),
        )  # fmt: skip
        self.budget_alert = Alert.objects.create(
            budget=self.budget, period_start=midnight(1), threshold=Decimal(80), spend=Decimal("0.41"),
            amount=Decimal("0.50"), next_attempt_at=now,
        )  # fmt: skip
        rule = AnomalyRule.objects.create(project=self.project, metric="cost", scope="agent")
        self.anomaly_alert = Alert.objects.create(
            anomaly_rule=rule, kind=Alert.Kind.ANOMALY, metric="cost", scope_value="planner",
            observed=Decimal("9.5"), expected=Decimal(2), band_low=Decimal(1), band_high=Decimal(3),
            period_start=midnight(1), threshold=0, spend=0, amount=0, next_attempt_at=now,
        )  # fmt: skip

    def delivery(self) -> dict[int, str]:
        """Each recent alert's delivery cell on the overview, as text, by alert."""
        response = self.client.get(self.url)
        alerts = list(response.context["alerts"])
        cells = re.findall(r'<td data-testid="alert-delivery">(.*?)</td>', response.content.decode(), re.S)
        return {
            alert.pk: " ".join(re.sub(r"<[^>]+>", "", cell).split()) for alert, cell in zip(alerts, cells, strict=True)
        }

    def test_an_alert_with_no_destination_says_so_and_is_never_retrying(self):
        assert outbox.deliver_due_alerts() == 0
        for later in (timedelta(hours=2), timedelta(days=2)):  # the hourly re-checks change nothing
            shown = self.delivery()
            assert shown[self.budget_alert.pk].startswith("no destination: add one to this budget in the admin")
            assert shown[self.anomaly_alert.pk].startswith("no destination: add a destination in the admin")
            assert not any("retrying" in text or "queued" in text for text in shown.values()), shown
            outbox.deliver_due_alerts(timezone.now() + later)
        body = self.client.get(self.url).content.decode()
        assert "/admin/budgets/destination/add/" in body
        assert f"/admin/budgets/budget/{self.budget.pk}/change/" in body

    def test_adding_a_destination_sends_what_waited_at_once(self):
        outbox.deliver_due_alerts()
        response = self.api.post("/api/v1/destinations", {"name": "#ops", "webhook_url": self.slack.url()},
                                 content_type="application/json")  # fmt: skip
        assert response.status_code == 201
        shown = self.delivery()
        assert shown[self.anomaly_alert.pk] == "queued"  # every destination of the project takes anomalies
        assert shown[self.budget_alert.pk].startswith("no destination")  # a budget names its own
        assert outbox.deliver_due_alerts() == 1
        assert self.delivery()[self.anomaly_alert.pk].startswith("sent ")

        response = self.api.patch(f"/api/v1/budgets/{self.budget.pk}", {"destinations": [response.json()["id"]]},
                                  content_type="application/json")  # fmt: skip
        assert response.status_code == 200
        assert self.delivery()[self.budget_alert.pk] == "queued"
        assert outbox.deliver_due_alerts() == 1
        assert self.delivery()[self.budget_alert.pk].startswith("sent ")
        assert len(self.slack.received) == 2

    def test_a_disabled_destination_says_so_and_is_not_retrying(self):
        destination = Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        self.budget.destinations.add(destination)
        self.slack.answer(404, "no_service")  # Slack removed the webhook: disabled for good
        outbox.deliver_due_alerts()
        outbox.deliver_due_alerts(timezone.now() + timedelta(hours=2))
        shown = self.delivery()
        assert shown[self.budget_alert.pk] == "destination disabled: re-enable it in the admin", shown
        assert not any("retrying" in text for text in shown.values()), shown

    def test_a_transient_failure_is_still_retrying(self):
        destination = Destination.objects.create(project=self.project, name="#ops", url=self.slack.url())
        self.budget.destinations.add(destination)
        self.slack.answer(500, "oops")
        outbox.send_alert(self.budget_alert.pk)
        assert self.delivery()[self.budget_alert.pk].startswith("retrying: ")


class TimezoneTests(DashboardTestCase):
    def test_yesterday_follows_the_users_own_time_zone(self):
        # A moment of Tokyo's yesterday that is not in UTC's yesterday.
        tokyo_day = timezone.now().astimezone(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=1)
        tokyo_midnight = datetime.combine(tokyo_day, time.min, tzinfo=ZoneInfo("Asia/Tokyo"))
        moment = tokyo_midnight + timedelta(hours=1)
        if moment >= midnight(1):
            moment = tokyo_midnight + timedelta(hours=23)
        ingest(self.project, agent_run(moment, agent="late", calls=[("gpt-4o", "1.00", 1.0)], seconds=5))
        rollups.rollup_until_current()
        utc = self.client.get(self.url, {"since": "yesterday"}).context["totals"]
        self.client.post("/account/", {"timezone": "Asia/Tokyo"})
        assert UserProfile.objects.get(user=self.user).timezone == "Asia/Tokyo"
        tokyo = self.client.get(self.url, {"since": "yesterday"}).context["totals"]
        assert utc["runs"] == 0
        assert tokyo["runs"] == 1

    def test_an_unknown_time_zone_is_refused_naming_the_field(self):
        response = self.client.post("/account/", {"timezone": "Mars/Olympus"})
        assert response.status_code == 200
        assert "timezone" in response.context["form"].errors


class AccessTests(DashboardTestCase):
    def test_signed_out_visitors_are_sent_to_sign_in(self):
        self.client.logout()
        response = self.client.get(self.url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/p/acme/acme-agents/")

    def test_sign_in_lands_on_the_last_project_opened(self):
        make_project("Second", org_slug="acme")
        self.client.get("/p/acme/second/")
        self.client.logout()
        response = self.client.post(
            "/accounts/login/", {"username": "ann", "password": "correct horse battery staple"}, follow=True
        )
        assert response.redirect_chain[-1][0] == "/p/acme/second/"
        assert "Second" in response.content.decode()

    def test_another_organizations_project_is_not_found(self):
        make_project("Rival", org_slug="rival")
        assert self.client.get("/p/rival/rival/").status_code == 404
        assert self.client.get("/p/rival/rival/cost/").status_code == 404
        assert self.client.get("/p/nope/nope/").status_code == 404

    def test_the_switcher_lists_only_the_users_projects(self):
        make_project("Rival", org_slug="rival")
        make_project("Second", org_slug="acme")
        body = self.client.get(self.url).content.decode()
        assert "/p/acme/second/" in body
        assert "/p/rival/rival/" not in body

    def test_a_superuser_sees_every_project(self):
        make_project("Rival", org_slug="rival")
        from django.contrib.auth.models import User

        self.client.force_login(User.objects.create_superuser("root", "", "x"))
        assert self.client.get("/p/rival/rival/").status_code == 200

    def test_a_user_without_projects_is_told_how_to_get_one(self):
        self.client.force_login(make_user("loner"))
        response = self.client.get("/")
        assert response.status_code == 200
        assert "You are not in any project yet" in response.content.decode()

    def test_plotly_is_served_locally(self):
        response = self.client.get("/static/vendor/plotly.min.js")
        assert response.status_code == 200
        assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()
