from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory, TestCase

from ingest.models import Run, Span
from tenancy import auth, services
from tenancy.models import ApiKey, Organization, Project
from tests.factories import make_project
from tests.ingest import spans


class CreateProjectCommandTests(TestCase):
    def test_prints_the_new_ingest_key_as_the_last_line(self):
        out = StringIO()
        call_command("create_project", "Support bot", stdout=out)
        raw_key = out.getvalue().strip().splitlines()[-1]
        project = Project.objects.get(name="Support bot")
        assert project.organization.slug == "default"
        assert raw_key.startswith("al_")
        assert auth.api_key_for_raw_key(raw_key).project == project

    def test_creates_the_named_organization_when_missing(self):
        call_command("create_project", "Research", "--org", "lab", stdout=StringIO())
        assert Project.objects.get(name="Research").organization == Organization.objects.get(slug="lab")

    def test_same_name_twice_gets_distinct_slugs(self):
        call_command("create_project", "Bot", stdout=StringIO())
        call_command("create_project", "Bot", stdout=StringIO())
        assert sorted(Project.objects.values_list("slug", flat=True)) == [
            "bot",
            "bot-2",
        ]

    def test_unknown_timezone_is_refused_with_the_field_named(self):
        with pytest.raises(CommandError, match="timezone"):
            call_command("create_project", "Bot", "--timezone", "Mars/Olympus", stdout=StringIO())
        assert not Project.objects.exists()


class ApiKeyTests(TestCase):
    def test_raw_key_is_never_stored(self):
        project, raw_key = make_project()
        stored = ApiKey.objects.get(project=project)
        for field in ApiKey._meta.concrete_fields:
            assert raw_key not in str(getattr(stored, field.attname))
        assert stored.prefix == raw_key[:11]

    def test_bearer_and_x_api_key_headers_authenticate(self):
        project, raw_key = make_project()
        rf = RequestFactory()
        assert auth.api_key_for_request(rf.post("/", HTTP_AUTHORIZATION=f"Bearer {raw_key}")).project == project
        assert auth.api_key_for_request(rf.post("/", HTTP_X_API_KEY=raw_key)).project == project

    def test_wrong_or_revoked_key_is_refused(self):
        project, raw_key = make_project()
        assert auth.api_key_for_raw_key(raw_key[:-2] + "xx") is None
        assert auth.api_key_for_raw_key("not-a-key") is None
        services.api_key_revoke(ApiKey.objects.get(project=project))
        assert auth.api_key_for_raw_key(raw_key) is None

    def test_use_is_recorded(self):
        project, raw_key = make_project()
        assert ApiKey.objects.get(project=project).last_used_at is None
        auth.api_key_for_raw_key(raw_key)
        assert ApiKey.objects.get(project=project).last_used_at is not None


class DeletionTests(TestCase):
    """Spans reference their project and key without a database constraint (intake speed), so
    the cascade is Django's: deleting a project must still take its spans and runs, and only its."""

    def test_deleting_a_project_deletes_its_spans_and_runs_only(self):
        doomed, _ = make_project("doomed")
        kept, _ = make_project("kept")
        start = datetime(2026, 3, 2, 9, tzinfo=UTC)
        spans.ingest(doomed, spans.agent_run(start))
        spans.ingest(kept, spans.agent_run(start))
        doomed.delete()
        assert not Span.objects.filter(project_id=doomed.pk).exists()
        assert not Run.objects.filter(project_id=doomed.pk).exists()
        assert Span.objects.filter(project=kept).count() == 2
        assert Run.objects.filter(project=kept).count() == 1

    def test_deleting_a_key_keeps_its_spans_without_a_key(self):
        project, _ = make_project()
        extra = services.api_key_create(project, name="ci").api_key
        spans.ingest(project, spans.agent_run(datetime(2026, 3, 2, 9, tzinfo=UTC)), api_key=extra)
        extra.delete()
        assert list(Span.objects.filter(project=project).values_list("api_key_id", flat=True)) == [None, None]
        assert Run.objects.get(project=project).api_key_id is None
