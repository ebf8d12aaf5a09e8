"""Pure decisions of an evaluator: sampling, reading the judge's verdict, the retry schedule,
the daily-cap admission of parallel calls, and reading the judge's HTTP answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx2
import pytest
from django.test import SimpleTestCase

from scores.evaluators import decisions, judge
from scores.evaluators.decisions import Admission, Verdict, VerdictError, parse_verdict, sampled


class SamplingTests(SimpleTestCase):
    trace_ids = [f"{i:032x}" for i in range(2000)]

    def test_the_rate_is_honoured_and_the_same_run_always_decides_the_same(self):
        chosen = [t for t in self.trace_ids if sampled(7, t, Decimal(25))]
        assert 450 <= len(chosen) <= 550
        assert chosen == [t for t in self.trace_ids if sampled(7, t, Decimal(25))]

    def test_zero_takes_none_and_a_hundred_takes_all(self):
        assert not any(sampled(1, t, Decimal(0)) for t in self.trace_ids)
        assert all(sampled(1, t, Decimal(100)) for t in self.trace_ids)

    def test_raising_the_rate_keeps_every_run_already_in(self):
        low = {t for t in self.trace_ids if sampled(3, t, Decimal("10.5"))}
        high = {t for t in self.trace_ids if sampled(3, t, Decimal(40))}
        assert low < high

    def test_two_evaluators_sample_different_runs(self):
        first = {t for t in self.trace_ids if sampled(1, t, Decimal(10))}
        second = {t for t in self.trace_ids if sampled(2, t, Decimal(10))}
        assert len(first & second) < len(first) / 2


class VerdictTests(SimpleTestCase):
    def test_binary_verdicts(self):
        assert parse_verdict("binary", '{"verdict": "pass", "reason": "grounded"}') == Verdict(1.0, "pass", "grounded")
        assert parse_verdict("binary", '{"verdict": " Fail ", "reason": "invented"}') == Verdict(
            0.0, "fail", "invented"
        )
        assert parse_verdict("binary", '{"verdict": true}') == Verdict(1.0, "pass", "")

    def test_scale_verdicts(self):
        assert parse_verdict("scale", '{"score": 0, "reason": "wrong"}') == Verdict(0.0, "", "wrong")
        assert parse_verdict("scale", '{"score": 10}') == Verdict(10.0, "", "")
        assert parse_verdict("scale", '{"score": "7.5", "reason": "ok"}') == Verdict(7.5, "", "ok")

    def test_a_code_fence_around_the_json_is_tolerated(self):
        assert parse_verdict("binary", '```json\n{"verdict": "pass"}\n```').value == 1.0
        assert parse_verdict("binary", '```\n{"verdict": "fail"}\n```').value == 0.0

    def test_unreadable_answers_are_errors(self):
        bad = {
            ("binary", "Pass. The agent was right."): "the judge's answer is not JSON",
            ("binary", ""): "the judge's answer is not JSON",
            ("binary", "[1, 2]"): "the judge's answer is not a JSON object",
            ("binary", '{"verdict": "maybe"}'): '"verdict" must be "pass" or "fail", got "maybe"',
            ("binary", '{"reason": "no verdict"}'): '"verdict" must be "pass" or "fail", got null',
            ("scale", '{"score": 11}'): '"score" 11 is outside 0-10',
            ("scale", '{"score": -1}'): '"score" -1 is outside 0-10',
            ("scale", '{"score": true}'): '"score" must be a number from 0 to 10, got true',
            ("scale", '{"score": "NaN"}'): '"score" must be a number from 0 to 10, got "NaN"',
            ("scale", '{"score": 1%s}' % ("0" * 400)): '"score" must be a number from 0 to 10, got 1000',
            ("scale", '{"verdict": "pass"}'): '"score" must be a number from 0 to 10, got null',
        }
        for (kind, content), message in bad.items():
            with self.subTest(content=content), pytest.raises(VerdictError) as caught:
                parse_verdict(kind, content)
            assert str(caught.value).startswith(message), str(caught.value)

    def test_a_long_reason_is_cut_and_a_non_text_reason_kept_as_json(self):
        long = parse_verdict("binary", '{"verdict": "pass", "reason": "%s"}' % ("x" * 20_000))
        assert len(long.reason) == decisions.MAX_REASON_CHARS
        assert parse_verdict("binary", '{"verdict": "pass", "reason": ["a", "b"]}').reason == '["a", "b"]'

    def test_the_request_asks_for_json(self):
        body = decisions.chat_request(model="gpt-4o-mini", verdict_type="scale", prompt="Grade this")
        assert body["response_format"] == {"type": "json_object"}
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "JSON" in body["messages"][0]["content"]
        assert '"score": an integer from 0 to 10' in body["messages"][0]["content"]
        assert body["messages"][1]["content"] == "Grade this"


class RetryDelayTests(SimpleTestCase):
    def test_retry_after_wins_and_backoff_doubles_up_to_the_cap(self):
        assert decisions.retry_delay(1, 2.5) == timedelta(seconds=2.5)
        assert decisions.retry_delay(1, 99_999) == decisions.MAX_BACKOFF
        assert [decisions.retry_delay(n, None).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [
            30, 60, 120, 240, 480, 900,
        ]  # fmt: skip

    def test_retry_after_as_seconds_or_an_http_date(self):
        now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        assert judge.retry_after("7") == 7.0
        assert judge.retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
        assert judge.retry_after("soon") is None
        assert judge.retry_after("nan") is None
        assert judge.retry_after(None) is None


class AdmissionTests(SimpleTestCase):
    def test_without_a_cost_history_the_first_call_goes_alone(self):
        admission = Admission(spent=Decimal(0), cap=Decimal(1), estimate=None)
        assert [admission.admit() for _ in range(3)] == [True, False, False]

    def test_calls_in_flight_count_at_the_last_calls_cost(self):
        admission = Admission(spent=Decimal("0.00027"), cap=Decimal("0.0005"), estimate=Decimal("0.00027"))
        assert [admission.admit() for _ in range(3)] == [True, False, False]
        admission = Admission(spent=Decimal(0), cap=Decimal("0.001"), estimate=Decimal("0.0003"))
        assert [admission.admit() for _ in range(5)] == [True, True, True, True, False]

    def test_at_the_cap_nothing_starts(self):
        admission = Admission(spent=Decimal("0.5"), cap=Decimal("0.5"), estimate=Decimal("0.01"))
        assert admission.over_cap
        assert admission.admit() is False


class JudgeAnswerTests(SimpleTestCase):
    def complete(self, status, body, headers=None):
        transport = httpx2.MockTransport(lambda request: httpx2.Response(status, text=body, headers=headers or {}))
        with httpx2.Client(transport=transport) as http:
            return judge.complete(http, base_url="https://judge.example/v1/", api_key="k", body={"model": "m"})

    def test_usage_is_read_in_our_semantics(self):
        reply = self.complete(
            200,
            '{"model": "gpt-4o-mini", "choices": [{"message": {"content": "{}"}}], "usage": {"prompt_tokens": 10, '
            '"completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}, '
            '"completion_tokens_details": {"reasoning_tokens": 2}}}',
        )
        assert (reply.content, reply.model) == ("{}", "gpt-4o-mini")
        usage = reply.usage
        assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens) == (
            10,
            5,
            4,
            2,
        )

    def test_statuses_are_sorted_into_transient_and_permanent(self):
        for status, transient in ((429, True), (500, True), (503, True), (408, True), (400, False), (404, False)):
            with self.subTest(status=status), pytest.raises(judge.JudgeError) as caught:
                self.complete(status, "nope", {"Retry-After": "3"})
            assert caught.value.transient is transient
            assert caught.value.retry_after == (3.0 if transient else None)

    def test_a_completion_without_text_has_empty_content(self):
        reply = self.complete(200, '{"choices": [{"message": {"content": null, "refusal": "no"}}]}')
        assert (reply.content, reply.usage.input_tokens) == ("", None)
