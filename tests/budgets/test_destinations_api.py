"""/api/v1/destinations with every kind: what each takes, what bad input answers (400 naming the
field, nothing saved), what is never shown back, and the admin form of the same settings."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client, TestCase, override_settings

from budgets.delivery import outbox
from budgets.delivery.errors import NotifyError
from budgets.models import Destination
from tests.factories import make_project
from tests.fakes.receiver import FakeReceiver, fake_receiver

SLACK_URL = "https://hooks.slack.com/services/T0/B0/abcdefSECRET"
HOOK_URL = "https://hooks.example.com/agentledger/tokenSECRET"
SECRET = "whsec-very-secret-value"
ROUTING_KEY = "R0UT1NGKEYsecret0123456789abcdef"


class DestinationKindsApiTests(TestCase):
    def setUp(self) -> None:
        self.project, key = make_project()
        self.api = Client(headers={"authorization": f"Bearer {key}"})

    def post(self, data: dict[str, object]):
        return self.api.post("/api/v1/destinations", data, content_type="application/json")

    def patch(self, pk: int, data: dict[str, object]):
        return self.api.patch(f"/api/v1/destinations/{pk}", data, content_type="application/json")

    def test_every_kind_is_created_and_listed_without_its_secrets(self):
        made = [
            self.post({"name": "#ops", "url": SLACK_URL}),
            self.post({"name": "hook", "kind": "webhook", "url": HOOK_URL, "secret": SECRET}),
            self.post({"name": "on call", "kind": "pagerduty", "routing_key": ROUTING_KEY}),
            self.post({"name": "finance", "kind": "email", "to": " ops@example.com,cfo@example.com "}),
        ]
        assert [r.status_code for r in made] == [201] * 4, [r.content for r in made]
        listed = self.api.get("/api/v1/destinations")
        content = listed.content.decode() + "".join(r.content.decode() for r in made)
        for secret in ("abcdef", "tokenSECRET", SECRET, ROUTING_KEY):
            assert secret not in content
        rows = {row["name"]: row for row in listed.json()}
        summary = {
            name: (row["kind"], row["masked_url"], row["to"], row["has_secret"], row["has_routing_key"], row["enabled"])
            for name, row in rows.items()
        }
        assert summary == {
            "#ops": ("slack", "https://hooks.slack.com/…CRET", "", False, False, True),
            "hook": ("webhook", "https://hooks.example.com/…CRET", "", True, False, True),
            "on call": ("pagerduty", "", "", False, True, True),
            "finance": ("email", "", "ops@example.com, cfo@example.com", False, False, True),
        }
        assert all(row["disabled_reason"] == "" for row in rows.values())
        for field in ("url", "webhook_url", "secret", "routing_key"):
            assert field not in rows["hook"]

    def test_bad_input_names_the_field_and_saves_nothing(self):
        cases = [
            ({"name": "x", "kind": "pagerduty"}, {"routing_key"}),
            ({"name": "x", "kind": "sms", "to": "+15550100"}, {"kind"}),
            ({"name": "x", "kind": "email", "to": "ops@example.com, not-an-address"}, {"to"}),
            ({"name": "x", "kind": "email", "to": " , "}, {"to"}),
            ({"name": "x", "kind": "email"}, {"to"}),
            ({"name": "x", "kind": "webhook"}, {"url"}),
            ({"name": "x", "kind": "webhook", "url": "ftp://example.com/x"}, {"url"}),
            ({"name": "x"}, {"url"}),
            ({"name": "x", "kind": "slack", "url": SLACK_URL, "routing_key": ROUTING_KEY}, {"routing_key"}),
            ({"name": "x", "kind": "slack", "url": SLACK_URL, "secret": SECRET}, {"secret"}),
            ({"name": "x", "kind": "pagerduty", "routing_key": ROUTING_KEY, "url": HOOK_URL}, {"url"}),
            ({"name": "x", "kind": "pagerduty", "routing_key": ROUTING_KEY, "daily_digest": True}, {"daily_digest"}),
            ({"name": "x", "webhook_url": "ftp://example.com/x"}, {"webhook_url"}),
            ({"name": "x", "webhook_url": SLACK_URL, "url": HOOK_URL}, {"webhook_url"}),
        ]
        for data, fields in cases:
            with self.subTest(data=data):
                response = self.post(data)
                assert response.status_code == 400, response.content
                assert set(response.json()["errors"]) == fields
        assert not Destination.objects.exists()

    def test_the_old_webhook_url_field_still_makes_a_slack_destination(self):
        response = self.post({"name": "#ops", "webhook_url": SLACK_URL})
        assert response.status_code == 201, response.content
        destination = Destination.objects.get()
        assert (destination.kind, destination.url) == ("slack", SLACK_URL)

    def test_changing_the_kind_drops_the_old_kinds_settings(self):
        pk = self.post({"name": "hook", "kind": "webhook", "url": HOOK_URL, "secret": SECRET}).json()["id"]
        response = self.patch(pk, {"secret": ""})  # unsigned from now on
        assert response.json()["has_secret"] is False
        response = self.patch(pk, {"kind": "email", "to": "ops@example.com"})
        assert response.status_code == 200, response.content
        destination = Destination.objects.get()
        assert (destination.kind, destination.url, destination.to) == ("email", "", "ops@example.com")
        response = self.patch(pk, {"kind": "pagerduty"})  # without its routing key
        assert set(response.json()["errors"]) == {"routing_key"}
        assert Destination.objects.get().kind == "email"
        response = self.patch(pk, {"name": "finance"})  # same kind: the stored settings stay
        assert (response.json()["name"], response.json()["to"]) == ("finance", "ops@example.com")

    @override_settings(AGENTLEDGER_DESTINATION_ALLOWED_HOSTS=["hooks.slack.com", "hooks.example.com"])
    def test_the_host_allow_list_limits_slack_and_webhook_urls(self):
        assert self.post({"name": "#ops", "url": SLACK_URL}).status_code == 201
        assert self.post({"name": "hook", "kind": "webhook", "url": HOOK_URL}).status_code == 201
        response = self.post({"name": "elsewhere", "kind": "webhook", "url": "http://127.0.0.1:9/hook"})
        assert response.status_code == 400
        assert "AGENTLEDGER_DESTINATION_ALLOWED_HOSTS" in response.json()["errors"]["url"][0]
        assert Destination.objects.count() == 2

    def test_a_destination_whose_host_is_no_longer_allowed_is_disabled_at_its_next_send(self):
        with fake_receiver() as hook:
            pk = self.post({"name": "hook", "kind": "webhook", "url": hook.url()}).json()["id"]
            allowed = override_settings(AGENTLEDGER_DESTINATION_ALLOWED_HOSTS=["hooks.example.com"])
            with allowed, self.assertRaises(NotifyError):
                outbox.destination_send_test(Destination.objects.get(pk=pk))
            assert hook.received == []
        assert "AGENTLEDGER_DESTINATION_ALLOWED_HOSTS" in Destination.objects.get().disabled_reason

    def test_the_schema_documents_every_kind_and_keeps_secrets_write_only(self):
        schema = Client().get("/api/schema/", {"format": "json"}).json()
        destination = schema["components"]["schemas"]["Destination"]["properties"]
        for field in ("kind", "url", "webhook_url", "secret", "routing_key", "to", "has_secret", "has_routing_key"):
            assert field in destination, field
        for field in ("url", "webhook_url", "secret", "routing_key"):
            assert destination[field].get("writeOnly") is True, field
        assert destination["kind"]["default"] == "slack"
        assert schema["components"]["schemas"]["DestinationKindEnum"]["enum"] == [
            "slack",
            "webhook",
            "pagerduty",
            "email",
        ]


class DestinationKindsAdminTests(TestCase):
    def setUp(self) -> None:
        self.project, _ = make_project()
        self.client.force_login(User.objects.create_superuser("root", password="correct horse battery staple"))

    def form(self, **fields: str) -> dict[str, str]:
        return {"project": str(self.project.pk), "name": "x", "kind": "slack", **fields}

    def test_secrets_are_write_only_and_kept_when_left_empty(self):
        response = self.client.post(
            "/admin/budgets/destination/add/", self.form(kind="webhook", url=HOOK_URL, secret=SECRET)
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        destination = Destination.objects.get()
        page = self.client.get(f"/admin/budgets/destination/{destination.pk}/change/").content.decode()
        assert SECRET not in page and "tokenSECRET" not in page
        assert "set (hidden)" in page and "…CRET" in page
        assert "js/destination_kind.js" in page  # shows the chosen kind's settings only

        self.client.post(f"/admin/budgets/destination/{destination.pk}/change/", self.form(kind="webhook", name="y"))
        destination.refresh_from_db()
        assert (destination.name, destination.url, destination.secret) == ("y", HOOK_URL, SECRET)

        self.client.post(
            f"/admin/budgets/destination/{destination.pk}/change/",
            self.form(kind="pagerduty", name="y", routing_key=ROUTING_KEY),
        )
        destination.refresh_from_db()
        assert (destination.kind, destination.url, destination.secret) == ("pagerduty", "", "")
        assert ROUTING_KEY not in self.client.get("/admin/budgets/destination/").content.decode()

    def test_bad_settings_are_shown_on_their_field(self):
        response = self.client.post("/admin/budgets/destination/add/", self.form(kind="email", to="nobody"))
        assert set(response.context["adminform"].form.errors) == {"to"}
        response = self.client.post("/admin/budgets/destination/add/", self.form(kind="pagerduty"))
        assert set(response.context["adminform"].form.errors) == {"routing_key"}
        assert not Destination.objects.exists()

    def test_send_test_message_to_a_webhook(self):
        hook: FakeReceiver
        with fake_receiver() as hook:
            destination = Destination.objects.create(project=self.project, name="hook", kind="webhook", url=hook.url())
            response = self.client.post(
                "/admin/budgets/destination/",
                {"action": "send_test_message", "_selected_action": [str(destination.pk)]},
                follow=True,
            )
        assert [str(m) for m in response.context["messages"]] == ["hook: test message sent"]
        assert hook.received[0].json["source"] == "test"

    def test_old_admin_links_to_slack_destinations_redirect(self):
        response = self.client.get("/admin/budgets/slackdestination/3/change/?x=1")
        assert (response.status_code, response["Location"]) == (302, "/admin/budgets/destination/3/change/?x=1")
