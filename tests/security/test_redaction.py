"""Redaction at intake: a project that turns it on never has a secret or a personal datum stored,
whatever path its telemetry takes (OTLP/HTTP protobuf and JSON, OTLP/gRPC, Langfuse's exporter,
the JSON API, OTLP logs); what was taken out is named by a `[REDACTED:kind]` marker."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.forms.models import model_to_dict
from django.test import TestCase, TransactionTestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from aggregates import rollups
from ingest import grpc_server, redaction
from ingest.models import LogRecord, Run, Span
from tenancy.models import Project
from tests.factories import make_project, make_user
from tests.security import hostile

PROTOBUF = "application/x-protobuf"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
LLM_SPAN = "1000000000000002"
TOOL_SPAN = "1000000000000003"

SECRETS = {
    "openai": "sk-proj-Tq3x9VbN2mLk8HsYd7Rf0WcZ1aEu5GoJ",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "password": "hunter2-Correct-Horse",
    "bearer": "abc123def456ghi789jkl",
    "signed": "tok_9f8e7d6c5b4a",
}
PII = {
    "email": "alice.martin@example.com",
    "other_email": "bob@example.org",
    "card": "4111 1111 1111 1111",
    "phone": "+1 (415) 555-2671",
    "session_phone": "+33 6 12 34 56 78",
}
TEXT = {
    "name": f"refund for {PII['email']}",
    "agent": "support-bot",
    "user": PII["email"],
    "session": PII["session_phone"],
    "tool": "lookup_order",
    "model": "gpt-4o",
    "prompt": f"My card is {PII['card']}, mail me at {PII['email']} or call {PII['phone']}",
    "completion": f"Use key {SECRETS['openai']} to call the API",
    "reasoning": f"The AWS key {SECRETS['aws']} is in the config",
    "argument": f"password={SECRETS['password']}",
    "result": f"Authorization: Bearer {SECRETS['bearer']}",
    "attribute_key": "app.note",
    "attribute_value": f"Bearer {SECRETS['bearer']}",
    "event": f"called {PII['other_email']}",
    "exception": f"login failed for {PII['other_email']} with {SECRETS['github']}",
    "status": f"denied: token={SECRETS['signed']}",
    "resource": "support-service",
}
NEEDLES = [*SECRETS.values(), *PII.values(), "4111111111111111", "555-2671", "12 34 56 78"]


def stored_text() -> str:
    """Every row of every table of intake and scores (spans, runs, logs, rollups, scores), as text."""
    rows = []
    for label in ("ingest", "scores"):
        for model in apps.get_app_config(label).get_models():
            rows.extend(model.objects.values())
    return json.dumps(rows, default=str, ensure_ascii=False)


def leaked(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


class IntakeTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project()

    def redact(self, *, secrets: bool = True, pii: bool = True) -> None:
        Project.objects.filter(pk=self.project.pk).update(redact_secrets=secrets, redact_pii=pii)

    def post(self, path: str, body: bytes, content_type: str = PROTOBUF, **headers: Any):
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.key}")
        response = self.client.post(path, body, content_type=content_type, **headers)
        assert response.status_code == 200, response.content
        return response

    def send_trace(self, trace_id: str = TRACE_ID, text: dict[str, str] = TEXT) -> None:
        self.post("/v1/traces", hostile.agent_trace(trace_id, text).SerializeToString())


class RedactionOffTests(IntakeTestCase):
    def test_redaction_is_off_by_default_and_text_is_kept_verbatim(self):
        assert not self.project.redact_secrets and not self.project.redact_pii
        self.send_trace()
        run = Run.objects.get()
        assert run.user_id == PII["email"]
        assert SECRETS["openai"] in json.dumps(Span.objects.get(span_id=LLM_SPAN).output)
        assert "[REDACTED:" not in stored_text()


class RedactionAtIntakeTests(IntakeTestCase):
    def setUp(self):
        super().setUp()
        self.redact()

    def test_otlp_protobuf_stores_nothing_unredacted(self):
        self.send_trace()
        rollups.rollup_until_current()
        assert Span.objects.count() == 3
        assert leaked(stored_text()) == []

    def test_otlp_json_stores_nothing_unredacted(self):
        self.post("/v1/traces", hostile.as_json(hostile.agent_trace(TRACE_ID, TEXT)), "application/json")
        assert Span.objects.count() == 3
        assert leaked(stored_text()) == []

    def test_langfuse_exporter_path_stores_nothing_unredacted(self):
        basic = base64.b64encode(f"pk-lf-public:{self.key}".encode()).decode()
        body = hostile.agent_trace(TRACE_ID, TEXT).SerializeToString()
        self.post("/api/public/otel/v1/traces", body, HTTP_AUTHORIZATION=f"Basic {basic}")
        assert Span.objects.count() == 3
        assert leaked(stored_text()) == []

    def test_json_api_stores_nothing_unredacted(self):
        span = {
            "trace_id": "run-1",
            "span_id": "call-1",
            "name": TEXT["name"],
            "kind": "llm",
            "model": "gpt-4o",
            "start_time": "2026-11-23T10:00:00Z",
            "status": "error",
            "error_message": TEXT["exception"],
            "user_id": PII["email"],
            "session_id": PII["session_phone"],
            "input": [{"role": "user", "content": TEXT["prompt"]}],
            "output": TEXT["completion"],
            "attributes": {"api_key": "plain-looking-value", "note": TEXT["result"]},
        }
        body = {"spans": [span], "runs": [{"trace_id": "run-1", "name": TEXT["event"], "user_id": PII["email"]}]}
        response = self.client.post(
            "/api/v1/ingest", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.key}"
        )
        assert response.status_code == 200, response.content
        stored = stored_text()
        assert leaked(stored) == []
        assert "plain-looking-value" not in stored  # named like a credential: redacted whole

    def test_otlp_logs_store_nothing_unredacted_and_fill_the_span_with_redacted_messages(self):
        llm = hostile.span(TRACE_ID, LLM_SPAN, "chat gpt-4o", {"gen_ai.operation.name": "chat"})
        self.post("/v1/traces", hostile.traces([llm]).SerializeToString())
        records = [
            ("gen_ai.user.message", {"gen_ai.system": "openai"}, {"content": TEXT["prompt"]}),
            (
                "gen_ai.choice",
                {"gen_ai.system": "openai", "api_key": SECRETS["signed"]},
                {"index": 0, "finish_reason": "stop", "message": {"content": TEXT["completion"]}},
            ),
        ]
        self.post("/v1/logs", hostile.logs(TRACE_ID, LLM_SPAN, records).SerializeToString())
        assert LogRecord.objects.count() == 2
        span = Span.objects.get(span_id=LLM_SPAN)
        assert "[REDACTED:card]" in json.dumps(span.input)
        assert "[REDACTED:openai_key]" in json.dumps(span.output)
        assert leaked(stored_text()) == []

    def test_markers_name_what_was_taken_out(self):
        self.send_trace()
        llm = Span.objects.get(span_id=LLM_SPAN)
        prompt, completion = json.dumps(llm.input), json.dumps(llm.output)
        assert "My card is [REDACTED:card], mail me at [REDACTED:email] or call [REDACTED:phone]" in prompt
        assert "Use key [REDACTED:openai_key] to call the API" in completion
        assert "The AWS key [REDACTED:aws_access_key] is in the config" in completion
        assert llm.attributes["http.request.header.authorization"] == ["[REDACTED:secret]"]
        assert llm.attributes["app.note"] == "Bearer [REDACTED:bearer_token]"
        assert llm.events[0]["name"] == "called [REDACTED:email]"
        tool = Span.objects.get(span_id=TOOL_SPAN)
        assert tool.error_message.endswith("denied: token=[REDACTED:password]")
        assert "login failed for [REDACTED:email] with [REDACTED:github_token]" in json.dumps(tool.events)
        assert tool.input == {"query": "password=[REDACTED:password]"}
        assert "Authorization: Bearer [REDACTED:bearer_token]" in json.dumps(tool.output)
        run = Run.objects.get()
        assert run.name == "refund for [REDACTED:email]"
        assert run.user_id.startswith("[REDACTED:email]~")
        assert run.session_id.startswith("[REDACTED:phone]~")

    def test_ordinary_text_and_numbers_are_left_alone(self):
        self.send_trace()
        llm = Span.objects.get(span_id=LLM_SPAN)
        assert (llm.input_tokens, llm.output_tokens, llm.request_model) == (120, 30, "gpt-4o")
        assert llm.attributes["gen_ai.usage.input_tokens"] == 120
        assert Run.objects.get().agent_name == "support-bot"
        assert "You are careful." in json.dumps(llm.input)

    def test_users_whose_ids_were_emails_stay_distinct_users(self):
        self.send_trace("5b8efff798038103d269b633813fc601", {**TEXT, "user": PII["email"]})
        self.send_trace("5b8efff798038103d269b633813fc602", {**TEXT, "user": PII["other_email"]})
        self.send_trace("5b8efff798038103d269b633813fc603", {**TEXT, "user": PII["email"]})
        users = list(Run.objects.order_by("trace_id").values_list("user_id", flat=True))
        assert users[0] == users[2] != users[1]
        assert all(u.startswith("[REDACTED:email]~") for u in users)

    def test_secrets_only_keeps_personal_data(self):
        self.redact(secrets=True, pii=False)
        self.send_trace()
        stored = stored_text()
        assert PII["email"] in stored
        assert SECRETS["openai"] not in stored and SECRETS["aws"] not in stored

    def test_personal_data_only_keeps_secrets(self):
        self.redact(secrets=False, pii=True)
        self.send_trace()
        stored = stored_text()
        assert SECRETS["openai"] in stored
        assert PII["email"] not in stored and "4111 1111 1111 1111" not in stored

    def test_the_run_page_shows_markers_and_no_secret(self):
        self.send_trace()
        rollups.rollup_until_current()
        user = make_user("ann", organization=self.project.organization)
        self.client.force_login(user)
        base = f"/p/{self.project.organization.slug}/{self.project.slug}"
        for url in (f"{base}/runs/{TRACE_ID}/?span={LLM_SPAN}", f"{base}/runs/{TRACE_ID}/?span={TOOL_SPAN}"):
            page = self.client.get(url).content.decode()
            assert leaked(page) == []
            assert "[REDACTED:" in page
        users_page = self.client.get(f"{base}/users/").content.decode()
        assert PII["email"] not in users_page
        assert "[REDACTED:email]~" in users_page


class AdminToggleTests(TestCase):
    def test_an_admin_turns_redaction_on_in_the_project_form(self):
        project, key = make_project()
        admin = User.objects.create_superuser("root", password="correct horse battery staple")
        self.client.force_login(admin)
        url = f"/admin/tenancy/project/{project.pk}/change/"
        form = self.client.get(url).content.decode()
        assert 'name="redact_secrets"' in form and 'name="redact_pii"' in form
        data = {k: ("" if v is None else v) for k, v in model_to_dict(project).items()}
        data.update(redact_secrets="on", redact_pii="on")
        response = self.client.post(url, data)
        assert response.status_code == 302, response.content.decode()[-2000:]
        project.refresh_from_db()
        assert project.redact_secrets and project.redact_pii
        self.client.post(
            "/v1/traces",
            hostile.agent_trace(TRACE_ID, TEXT).SerializeToString(),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert leaked(stored_text()) == []


class _Context:
    """The little of grpc.ServicerContext the servicers use."""

    def __init__(self, key: str) -> None:
        self.key = key

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.key}")]

    def abort(self, code: Any, details: str) -> None:
        raise AssertionError(f"aborted: {code} {details}")


class GrpcRedactionTests(TransactionTestCase):
    def test_grpc_traces_and_logs_store_nothing_unredacted(self):
        project, key = make_project()
        Project.objects.filter(pk=project.pk).update(redact_secrets=True, redact_pii=True)
        reply = grpc_server.TraceService().Export(hostile.agent_trace(TRACE_ID, TEXT), _Context(key))
        assert isinstance(reply, trace_service_pb2.ExportTraceServiceResponse)
        assert reply.partial_success.rejected_spans == 0
        records = [("gen_ai.user.message", {"note": TEXT["result"]}, {"content": TEXT["prompt"]})]
        grpc_server.LogsService().Export(hostile.logs(TRACE_ID, LLM_SPAN, records), _Context(key))
        assert Span.objects.count() == 3 and LogRecord.objects.count() == 1
        assert leaked(stored_text()) == []


# --- the rules ------------------------------------------------------------------------------------

BOTH = redaction.Policy(secrets=True, pii=True, pseudonym_key=b"test")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-Tq3x9VbN2mLk8HsYd7Rf0WcZ1aEu5GoJ ok", "key [REDACTED:openai_key] ok"),
        ("sk-abcdefghijklmnopqrstuvwxyz012345", "[REDACTED:openai_key]"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123-_x", "[REDACTED:anthropic_key]"),
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws_access_key]"),
        ("id ASIAY34FZKBOKMUTVV7A,", "id [REDACTED:aws_access_key],"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[REDACTED:github_token]"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "[REDACTED:slack_token]"),
        ("post to https://hooks.slack.com/services/T000/B000/XXXX now", "post to [REDACTED:slack_token] now"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "[REDACTED:google_api_key]"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:stripe_key]"),
        ("-H 'Authorization: Bearer abc123def456ghi789'", "-H 'Authorization: Bearer [REDACTED:bearer_token]'"),
        ("bearer abcdefghijklmnopqrstuvwxyz", "bearer [REDACTED:bearer_token]"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "Basic [REDACTED:authorization]"}'),
        ("Authorization: Token 9944b09199c62bcf", "Authorization: Token [REDACTED:authorization]"),
        (
            "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "t=[REDACTED:jwt]",
        ),
        ("password=hunter2&user=bob", "password=[REDACTED:password]&user=bob"),
        ('{"password": "correct horse battery"}', '{"password": "[REDACTED:password]"}'),
        ("DB_PASSWORD: s3cr3t!", "DB_PASSWORD: [REDACTED:password]"),
        ("client_secret='abc def'", "client_secret='[REDACTED:password]'"),
        ('{\\"api_key\\": \\"k-123456\\"}', '{\\"api_key\\": \\"[REDACTED:password]\\"}'),
        ("https://x.test/cb?access_token=abcd1234&x=1", "https://x.test/cb?access_token=[REDACTED:password]&x=1"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nok", "[REDACTED:private_key]\nok"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA (cut)", "[REDACTED:private_key]"),
    ],
)
def test_secrets_of_common_shapes_are_redacted(text: str, expected: str) -> None:
    assert redaction.text(text, redaction.Policy(secrets=True)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail alice.smith+tag@example.co.uk please", "mail [REDACTED:email] please"),
        ("<bob@example.org>", "<[REDACTED:email]>"),
        ("card 4111 1111 1111 1111.", "card [REDACTED:card]."),
        ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
        ("amex 378282246310005", "amex [REDACTED:card]"),
        ("mc 5555555555554444 exp 12/29", "mc [REDACTED:card] exp 12/29"),
        ("call +1 (415) 555-2671", "call [REDACTED:phone]"),
        ("e164 +14155552671", "e164 [REDACTED:phone]"),
        ("fr +33 6 12 34 56 78", "fr [REDACTED:phone]"),
        ("uk +44 20 7946 0958", "uk [REDACTED:phone]"),
        (
            "us (415) 555-2671 or 415-555-2671 or 415.555.2671",
            "us [REDACTED:phone] or [REDACTED:phone] or [REDACTED:phone]",
        ),
        ("fr 06 12 34 56 78", "fr [REDACTED:phone]"),
        ("uk 020 7946 0958 or 07700 900123", "uk [REDACTED:phone] or [REDACTED:phone]"),
    ],
)
def test_personal_data_is_redacted(text: str, expected: str) -> None:
    assert redaction.text(text, redaction.Policy(pii=True)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris is 21°C tomorrow; they said the key to success is money.",
        "the bearer of bad news",
        "4111111111111112 fails Luhn",  # a 16-digit number that is not a card
        "trace 1763892000123456789 at 1763892000123",  # nanosecond and millisecond timestamps
        "2026-11-23 10:00:00 UTC+01:00, version 1.2.3, ip 192.168.1.1",
        "cost 0.25 0.15, tokens 1234567, max_tokens=100, token_count: 5",
        "span 4bf92f3577b34da6a3ce929d0e0e4736 / 00f067aa0ba902b7, uuid 123e4567-e89b-12d3-a456-426614174000",
        "gpt-4o-mini-2024-07-18, claude-3-5-sonnet-20241022, task-assessment-for-the-quarterly-results",
        "user@localhost is not an address",
        "password: null, secret: true",
        "[REDACTED:email] [REDACTED:password]",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redaction.text(text, BOTH) == text


def test_values_of_attributes_named_like_credentials_are_redacted_whole() -> None:
    attributes = {
        "http.request.header.authorization": ["Bearer x"],
        "http.request.header.x-api-key": ["short"],
        "api_key": "whatever",
        "Cookie": "session=1",
        "nested": {"client_secret": {"value": "v", "version": 3}, "token": 12},
        "gen_ai.usage.input_tokens": 5,
        "tokenizer": "cl100k_base",
    }
    assert redaction.value(attributes, redaction.Policy(secrets=True)) == {
        "http.request.header.authorization": ["[REDACTED:secret]"],
        "http.request.header.x-api-key": ["[REDACTED:secret]"],
        "api_key": "[REDACTED:secret]",
        "Cookie": "[REDACTED:secret]",
        "nested": {"client_secret": {"value": "[REDACTED:secret]", "version": 3}, "token": 12},
        "gen_ai.usage.input_tokens": 5,
        "tokenizer": "cl100k_base",
    }
    assert redaction.value(attributes, redaction.Policy(pii=True)) == attributes  # names matter for secrets only


def test_short_strings_are_not_looked_at() -> None:
    assert redaction.text("a@b.c", BOTH) == "a@b.c"


TOKENS = [
    *NEEDLES,
    "password=",
    "token:",
    "Bearer",
    "sk-",
    "@",
    "+",
    "\n",
    "-",
    "(415)",
    "1",
    "0",
    '"',
    "\\",
    "4111",
    "x.com",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.lists(st.sampled_from(TOKENS), max_size=20).map("".join))
def test_redaction_never_raises_and_is_a_no_op_when_off(text: str) -> None:
    redaction.text(text, BOTH)
    assert redaction.text(text, redaction.Policy()) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=20).map(" ".join))
def test_redacted_text_redacts_to_itself(text: str) -> None:
    """A second pass finds nothing the first missed (e.g. a card printed right after a number)."""
    once = redaction.text(text, BOTH)
    assert redaction.text(once, BOTH) == once


@pytest.mark.parametrize(
    "hostile_text",
    [
        "a" * 200_000 + "@",
        "a_" * 100_000 + "token",
        "a." * 100_000 + "@",
        "1 " * 100_000,
        "+1" * 100_000,
        ("+" + "1" * 40 + "x ") * 5_000,
        'password="' + "a" * 200_000,
        "authorization: " * 13_000,
        "(1" * 100_000,
        "4111 " * 40_000,
    ],
    ids=lambda t: repr(t[:12]),
)
def test_long_hostile_strings_are_redacted_in_linear_time(hostile_text: str) -> None:
    started = time.perf_counter()
    redaction.text(hostile_text, BOTH)
    assert time.perf_counter() - started < 2.0  # about 0.05 s; a backtracking pattern takes minutes
