"""Thumbs up / down with a comment on the run page: editors and admins rate a run through htmx
and see it at once; viewers see the scores but no form, and cannot post one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.test import TestCase

from scores.models import Score
from scores.services import NewScore, scores_upsert
from tenancy.models import Membership
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest


class AnnotationTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Acme agents", org_slug="acme")
        items = agent_run(datetime.now(UTC) - timedelta(minutes=5), tools=[("lookup_order", False, 0.01)])
        ingest(self.project, items)
        self.trace_id = items[0][0].trace_id
        self.page = f"/p/acme/acme-agents/runs/{self.trace_id}/"
        self.post_url = f"/p/acme/acme-agents/runs/{self.trace_id}/scores"

    def sign_in(self, username, role):
        user = make_user(username, organization=self.project.organization, role=role)
        self.client.force_login(user)
        return user

    def rate(self, verdict, comment="", **headers):
        return self.client.post(self.post_url, {"verdict": verdict, "comment": comment}, **headers)


class EditorTests(AnnotationTestCase):
    def setUp(self):
        super().setUp()
        self.sign_in("erin", Membership.Role.EDITOR)

    def test_thumbs_down_with_a_comment_shows_on_the_run(self):
        response = self.rate("down", "Quoted the wrong refund window", HTTP_HX_REQUEST="true")

        assert response.status_code == 200
        fragment = response.content.decode()
        assert fragment.lstrip().startswith('<section id="scores-panel"'), "htmx gets only the panel"
        assert "Quoted the wrong refund window" in fragment
        page = self.client.get(self.page).content.decode()
        assert "👎 thumbs down" in page
        assert "Quoted the wrong refund window" in page
        assert "erin" in page
        score = Score.objects.get(project=self.project)
        assert (score.name, score.data_type, score.value, score.source, score.author) == (
            "user_feedback",
            "boolean",
            0.0,
            "annotation",
            "erin",
        )

    def test_rating_again_replaces_the_previous_rating(self):
        self.rate("down", "wrong", HTTP_HX_REQUEST="true")
        self.rate("up", "fixed on retry", HTTP_HX_REQUEST="true")

        score = Score.objects.get(project=self.project)
        assert (score.value, score.explanation) == (1.0, "fixed on retry")
        page = self.client.get(self.page).content.decode()
        assert "👍 thumbs up" in page
        assert "wrong" not in page.split('id="scores-panel"')[1].split("</section>")[0]

    def test_each_person_keeps_their_own_rating(self):
        self.rate("down", HTTP_HX_REQUEST="true")
        self.sign_in("ada", Membership.Role.ADMIN)
        self.rate("up", HTTP_HX_REQUEST="true")

        assert dict(Score.objects.values_list("author", "value")) == {"erin": 0.0, "ada": 1.0}

    def test_a_plain_form_post_redirects_back_to_the_run(self):
        response = self.rate("up")

        assert response.status_code == 302
        assert response["Location"] == self.page
        assert Score.objects.get().value == 1.0

    def test_a_post_without_a_verdict_stores_nothing_and_says_so(self):
        response = self.rate("maybe", HTTP_HX_REQUEST="true")

        assert response.status_code == 200
        assert "Choose thumbs up or down" in response.content.decode()
        assert not Score.objects.exists()

    def test_the_form_is_posted_through_htmx_with_the_csrf_token(self):
        page = self.client.get(self.page).content.decode()
        assert f'hx-post="{self.post_url}"' in page
        assert 'hx-target="#scores-panel"' in page
        assert "csrfmiddlewaretoken" in page


class ViewerTests(AnnotationTestCase):
    def setUp(self):
        super().setUp()
        scores_upsert(
            self.project,
            [
                NewScore(
                    trace_id=self.trace_id,
                    name="helpfulness",
                    data_type="numeric",
                    value=0.8,
                    source="api",
                    author="judge",
                    explanation="<script>alert(1)</script> clear",
                )
            ],
        )
        make_user("erin", organization=self.project.organization, role=Membership.Role.EDITOR)  # not the viewer
        self.sign_in("vic", Membership.Role.VIEWER)

    def test_a_viewer_sees_the_scores_but_no_form(self):
        page = self.client.get(self.page).content.decode()

        assert 'data-testid="scores"' in page
        assert "helpfulness" in page
        assert '<td class="nowrap">0.8' in page
        assert "judge" in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; clear" in page
        assert 'data-testid="feedback-form"' not in page

    def test_a_viewer_cannot_post_a_rating(self):
        response = self.rate("down", "nope", HTTP_HX_REQUEST="true")

        assert response.status_code == 403
        assert not Score.objects.filter(source="annotation").exists()


class AccessTests(AnnotationTestCase):
    def test_a_superuser_counts_as_admin(self):
        root = User.objects.create_superuser("root", password="x")
        self.client.force_login(root)

        assert 'data-testid="feedback-form"' in self.client.get(self.page).content.decode()
        assert self.rate("up", HTTP_HX_REQUEST="true").status_code == 200

    def test_another_organizations_editor_gets_404(self):
        rival, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("mallory", organization=rival.organization, role=Membership.Role.EDITOR))

        assert self.rate("down").status_code == 404
        assert not Score.objects.exists()

    def test_signed_out_goes_to_login_and_stores_nothing(self):
        response = self.rate("down")

        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
        assert not Score.objects.exists()

    def test_an_unknown_run_is_404(self):
        self.sign_in("erin", Membership.Role.EDITOR)
        response = self.client.post("/p/acme/acme-agents/runs/" + "f" * 32 + "/scores", {"verdict": "up"})

        assert response.status_code == 404


class AdminTests(AnnotationTestCase):
    def test_scores_are_listed_in_the_django_admin(self):
        scores_upsert(
            self.project,
            [NewScore(trace_id=self.trace_id, name="grounded", data_type="boolean", value=1.0, source="api")],
        )
        self.client.force_login(User.objects.create_superuser("root", password="x"))

        response = self.client.get("/admin/scores/score/")

        assert response.status_code == 200
        assert "grounded" in response.content.decode()
