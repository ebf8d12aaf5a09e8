"""Tenancy and price overrides moved out of the ingest app without moving data: an install upgraded
across the move keeps its organizations, projects, keys and prices (same tables), and old admin
links still open."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tenancy import keys

BEFORE = [("ingest", "0017_guardrails_and_mcp_server"), ("budgets", "0006_alert_undeliverable"),
          ("scores", "0003_evaluators")]  # fmt: skip
AFTER = [("ingest", "0019_priceoverride_moved_out"), ("tenancy", "0001_initial"), ("pricing", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_a_project_and_key_made_before_the_move_work_after_it(client):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    org = old.get_model("ingest", "Organization").objects.create(name="Acme", slug="acme")
    project = old.get_model("ingest", "Project").objects.create(organization=org, name="Legacy", slug="legacy")
    raw = keys.generate_key()
    old.get_model("ingest", "ApiKey").objects.create(
        project=project, name="old", prefix=keys.key_prefix(raw), key_hash=keys.hash_key(raw)
    )
    old.get_model("ingest", "PriceOverride").objects.create(
        project=project, model_pattern="ft:gpt-4o*", effective_from="2026-01-01T00:00:00Z",
        input_per_mtok="1.5", output_per_mtok="6",
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(AFTER).apps
    assert new.get_model("tenancy", "Project").objects.get(slug="legacy").organization.slug == "acme"
    assert new.get_model("pricing", "PriceOverride").objects.get(project__slug="legacy").model_pattern == "ft:gpt-4o*"
    response = client.get("/api/v1/runs", headers={"authorization": f"Bearer {raw}"})
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_old_admin_links_to_tenancy_pages_redirect(client):
    client.force_login(User.objects.create_superuser("root", password="correct horse battery staple"))
    response = client.get("/admin/ingest/project/7/change/?_changelist_filters=x")
    assert response.status_code == 302
    assert response["Location"] == "/admin/tenancy/project/7/change/?_changelist_filters=x"
    assert client.get("/admin/ingest/priceoverride/add/")["Location"] == "/admin/pricing/priceoverride/add/"
    assert client.get("/admin/ingest/workerheartbeat/").status_code == 200  # still in ingest: not redirected
