"""Slack destinations made before destinations had kinds are Slack destinations after the
migration: same rows and ids, same URL, still chosen by their budgets, still delivered to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from budgets import evaluation
from budgets.delivery import outbox
from budgets.models import Alert, Budget, Destination
from tenancy.models import Project
from tests.budgets.helpers import spend
from tests.factories import make_project
from tests.fakes.slack_server import fake_slack

BEFORE = [("budgets", "0007_project_moved_to_tenancy")]
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_a_slack_destination_made_before_kinds_still_gets_its_budgets_alerts():
    project, _ = make_project()
    with fake_slack() as slack:
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        old_project = old.get_model("tenancy", "Project").objects.get(pk=project.pk)
        destination = old.get_model("budgets", "SlackDestination").objects.create(
            project=old_project, name="#ops", webhook_url=slack.url()
        )
        budget = old.get_model("budgets", "Budget").objects.create(
            project=old_project, name="Support bot daily", scope="agent", scope_value="support-bot", period="day",
            amount_usd="10", thresholds=[80, 100],
        )  # fmt: skip
        budget.destinations.add(destination)

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        migrated = Destination.objects.get()
        assert (migrated.pk, migrated.kind, migrated.url, migrated.name) == (
            destination.pk,
            "slack",
            slack.url(),
            "#ops",
        )
        assert list(Budget.objects.get().destinations.all()) == [migrated]
        spend(Project.objects.get(pk=project.pk), NOW - timedelta(hours=3), "8.5")
        evaluation.evaluate_budgets(Project.objects.get(pk=project.pk), NOW)
        assert outbox.deliver_due_alerts(NOW) == 1
        assert list(Alert.objects.get().delivered_to.all()) == [migrated]
    assert slack.received[0].json["blocks"][0]["text"]["text"] == "Budget warning: Support bot daily"
