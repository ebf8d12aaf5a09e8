"""The evaluation pass in-process, against the local judge server: which runs are claimed, what
the judge is sent, what becomes a score and what an error, what the judge's calls cost, retries,
the daily cap and the bounds on calls. The real-worker path is in test_evaluators_worker.py."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import genai_prices
from django.test import TestCase, override_settings
from django.utils import timezone

from ingest.models import Run
from scores.evaluators import decisions
from scores.evaluators import services as evaluator_services
from scores.evaluators.services import claim_runs, evaluate_runs
from scores.models import Evaluation, Score
from tests.factories import make_project
from tests.fakes.judge_server import fake_judge
from tests.scores.judging import make_evaluator, post_spans, run_spans

Status = Evaluation.Status


@override_settings(AGENTLEDGER_JUDGE_SETTLE_SECONDS=0)
class EvaluatorTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Support", org_slug="acme")
        self.judge = self.enterContext(fake_judge())

    def evaluator(self, **fields):
        return make_evaluator(self.project, **{"base_url": self.judge.url, **fields})

    def runs(self, count=1, **fields):
        spans = [span for i in range(count) for span in run_spans(f"run-{i}-{fields}", **fields)]
        return post_spans(self.key, spans)

    def evaluation(self, trace_id):
        return Evaluation.objects.get(trace_id=trace_id)


class ClaimTests(EvaluatorTestCase):
    def test_runs_that_ended_before_the_evaluator_existed_are_not_claimed(self):
        old = post_spans(self.key, run_spans("before", end=timezone.now() - timedelta(seconds=30)))
        self.evaluator()
        new = self.runs()

        assert claim_runs(timezone.now()) == 1
        assert list(Evaluation.objects.values_list("trace_id", flat=True)) == new
        assert not Evaluation.objects.filter(trace_id__in=old).exists()

    def test_the_filters_pick_agent_status_and_minimum_cost(self):
        evaluator = self.evaluator(agent_name="support-bot", run_status="error", min_run_cost_usd=Decimal("0.05"))
        [wanted] = self.runs(agent="support-bot", failed=True, cost="0.07")
        self.runs(agent="support-bot", failed=False, cost="0.07")
        self.runs(agent="billing-bot", failed=True, cost="0.07")
        self.runs(agent="support-bot", failed=True, cost="0.01")

        claim_runs(timezone.now())

        assert list(evaluator.evaluations.values_list("trace_id", "status")) == [(wanted, Status.PENDING)]

    def test_a_run_whose_root_has_not_arrived_waits(self):
        self.evaluator()
        spans = run_spans("partial")
        post_spans(self.key, spans[1:])  # the children only
        assert claim_runs(timezone.now()) == 0
        post_spans(self.key, spans[:1])
        assert claim_runs(timezone.now()) == 1

    @override_settings(AGENTLEDGER_JUDGE_SETTLE_SECONDS=60)
    def test_a_run_still_changing_waits_for_the_settle_time(self):
        self.evaluator()
        self.runs()
        assert claim_runs(timezone.now()) == 0
        assert claim_runs(timezone.now() + timedelta(seconds=61)) == 1

    def test_a_second_pass_claims_nothing_again(self):
        self.evaluator()
        self.runs(3)
        now = timezone.now()
        assert claim_runs(now) == 3
        assert claim_runs(now) == 0
        assert Evaluation.objects.count() == 3

    def test_sampling_is_decided_by_trace_id_and_recorded(self):
        evaluator = self.evaluator(sample_rate=Decimal(50))
        trace_ids = self.runs(40)
        claim_runs(timezone.now())

        expected = {t for t in trace_ids if decisions.sampled(evaluator.pk, t, Decimal(50))}
        pending = set(evaluator.evaluations.filter(status=Status.PENDING).values_list("trace_id", flat=True))
        assert pending == expected
        assert evaluator.evaluations.filter(status=Status.NOT_SAMPLED).count() == 40 - len(expected)
        assert 0 < len(expected) < 40

    def test_a_disabled_evaluator_claims_nothing(self):
        self.evaluator(enabled=False)
        self.runs()
        assert claim_runs(timezone.now()) == 0


class VerdictTests(EvaluatorTestCase):
    def test_a_pass_becomes_a_boolean_score_by_the_evaluator(self):
        self.evaluator()
        [trace_id] = self.runs()
        run_cost = Run.objects.get(trace_id=trace_id).cost_usd

        result = evaluate_runs(timezone.now())

        assert (result.claimed, result.judged) == (1, 1)
        score = Score.objects.get(trace_id=trace_id)
        assert (score.name, score.data_type, score.value, score.label, score.source, score.author) == (
            "grounded", "boolean", 1.0, "pass", "evaluator", "grounded",
        )  # fmt: skip
        assert score.explanation == "answered the question with the order status"
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.score_id, evaluation.attempts) == (Status.DONE, score.pk, 1)
        assert Run.objects.get(trace_id=trace_id).cost_usd == run_cost, "the judge's cost is not the agent's"

    def test_a_fail_is_zero_and_a_score_name_can_be_set(self):
        self.evaluator(score_name="grounded_v2")
        [trace_id] = self.runs()
        self.judge.content = '```json\n{"verdict": "FAIL", "reason": "invented an ETA"}\n```'
        evaluate_runs(timezone.now())
        score = Score.objects.get(trace_id=trace_id)
        assert (score.name, score.value, score.label, score.author) == ("grounded_v2", 0.0, "fail", "grounded")

    def test_a_scale_verdict_is_a_numeric_score(self):
        self.evaluator(verdict_type="scale", name="helpfulness")
        [trace_id] = self.runs()
        self.judge.content = '{"score": 7, "reason": "right answer, curt tone"}'
        evaluate_runs(timezone.now())
        score = Score.objects.get(trace_id=trace_id)
        assert (score.data_type, score.value, score.label, score.explanation) == (
            "numeric", 7.0, "", "right answer, curt tone",
        )  # fmt: skip

    def test_a_verdict_of_true_or_false_is_a_pass_or_a_fail(self):
        self.evaluator()
        passed, failed = self.runs(2)
        self.judge.content = lambda request: (
            '{"verdict": true, "reason": "ok"}' if passed in request.prompt else '{"verdict": false, "reason": "no"}'
        )
        evaluate_runs(timezone.now())
        scores = {s.trace_id: s for s in Score.objects.all()}
        assert (scores[passed].data_type, scores[passed].value, scores[passed].label) == ("boolean", 1.0, "pass")
        assert (scores[failed].data_type, scores[failed].value, scores[failed].label) == ("boolean", 0.0, "fail")

    def test_a_scale_score_of_true_is_an_error_not_a_grade_of_one(self):
        self.evaluator(verdict_type="scale")
        [trace_id] = self.runs()
        self.judge.content = '{"score": true, "reason": "looks right"}'
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.error) == (
            Status.ERROR, '"score" must be a number from 0 to 10, got true',
        )  # fmt: skip
        assert not Score.objects.exists()

    def test_an_answer_that_is_not_json_is_an_error_not_a_score(self):
        self.evaluator()
        [trace_id] = self.runs()
        self.judge.content = "The agent did well, I would say pass."
        evaluate_runs(timezone.now())

        evaluation = self.evaluation(trace_id)
        assert evaluation.status == Status.ERROR
        assert evaluation.error.startswith("the judge's answer is not JSON")
        assert evaluation.cost_usd is not None, "the call was paid for: its cost still counts"
        assert not Score.objects.exists()

    def test_an_out_of_range_score_is_an_error_not_a_score(self):
        self.evaluator(verdict_type="scale")
        [trace_id] = self.runs()
        self.judge.content = '{"score": 11, "reason": "off the charts"}'
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.error) == (Status.ERROR, '"score" 11 is outside 0-10')
        assert not Score.objects.exists()

    def test_a_body_that_is_not_a_completion_is_an_error(self):
        self.evaluator()
        [trace_id] = self.runs()
        self.judge.answer(200, "<html>gateway says hi</html>")
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert evaluation.status == Status.ERROR
        assert "not a chat completion" in evaluation.error
        assert evaluation.cost_usd is None

    def test_a_run_deleted_before_its_turn_is_an_error_without_a_call(self):
        self.evaluator()
        [trace_id] = self.runs()
        claim_runs(timezone.now())
        Run.objects.filter(trace_id=trace_id).delete()
        evaluate_runs(timezone.now())
        assert self.evaluation(trace_id).status == Status.ERROR
        assert self.judge.requests == []


class JudgeRequestTests(EvaluatorTestCase):
    def test_the_rubric_gets_the_runs_input_output_and_tool_calls(self):
        self.evaluator()
        [trace_id] = self.runs(question="Can I return shoes after 40 days?", answer="Yes, within 60 days.")
        evaluate_runs(timezone.now())

        [request] = self.judge.requests
        body = request.json
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test-judge-key-0001"
        assert body["model"] == "gpt-4o-mini"
        assert body["response_format"] == {"type": "json_object"}
        assert body["messages"][0]["role"] == "system"
        assert '"verdict": "pass" or "fail"' in body["messages"][0]["content"]
        assert request.prompt == (
            "Did the agent answer the customer's question using what its tools returned?\n\n"
            "Customer:\nuser: Can I return shoes after 40 days?\n\n"
            "Tool calls:\n"
            '1. tool lookup_order\narguments: {\n  "order_id": 42\n}\nresult: {\n  "eta": "Friday",\n  "status": "shipped"\n}\n\n'
            "Agent's answer:\nYes, within 60 days.\n\n"
            f"Run {trace_id} of support-bot."
        )

    @override_settings(AGENTLEDGER_JUDGE_API_KEY="sk-operator-key-1234")
    def test_the_settings_key_goes_only_to_the_settings_url(self):
        with override_settings(AGENTLEDGER_JUDGE_BASE_URL=self.judge.url):
            self.evaluator(name="default-endpoint", base_url="", api_key="")
            self.evaluator(name="own-endpoint", base_url=f"http://localhost:{self.judge.port}/v1", api_key="")
            self.runs()
            evaluate_runs(timezone.now())

        sent = sorted(r.headers.get("authorization", "") for r in self.judge.requests)
        assert sent == ["", "Bearer sk-operator-key-1234"]

    @override_settings(AGENTLEDGER_JUDGE_CONCURRENCY=3)
    def test_calls_run_in_parallel_but_never_more_than_the_concurrency(self):
        self.evaluator()
        self.judge.delay = 0.3
        self.evaluate_runs_with_history(9)
        assert len(self.judge.requests) == 9
        assert self.judge.max_in_flight == 3

    @override_settings(AGENTLEDGER_JUDGE_CALLS_PER_PASS=4)
    def test_a_pass_makes_at_most_calls_per_pass_and_leaves_the_rest_due(self):
        self.evaluator()
        self.runs(6)
        assert evaluate_runs(timezone.now()).judged == 4
        assert Evaluation.objects.filter(status=Status.PENDING).count() == 2
        assert evaluate_runs(timezone.now()).judged == 2
        assert Evaluation.objects.filter(status=Status.DONE).count() == 6

    def evaluate_runs_with_history(self, count):
        """The first call of an evaluator goes alone (it teaches the cost of a call); then waves."""
        self.runs(count)
        evaluate_runs(timezone.now())


class RetryTests(EvaluatorTestCase):
    def test_a_429_is_tried_again_after_retry_after_then_succeeds(self):
        self.evaluator()
        [trace_id] = self.runs()
        self.judge.answer(429, '{"error": {"message": "slow down"}}', {"Retry-After": "2"})
        now = timezone.now()

        evaluate_runs(now)
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.attempts) == (Status.PENDING, 1)
        assert evaluation.error.startswith("the judge answered 429")
        assert evaluation.next_attempt_at == now + timedelta(seconds=2)
        evaluate_runs(now + timedelta(seconds=1))
        assert len(self.judge.requests) == 1, "not due yet"

        evaluate_runs(now + timedelta(seconds=2))
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.attempts, evaluation.error) == (Status.DONE, 2, "")
        assert Score.objects.filter(trace_id=trace_id, value=1.0).exists()

    def test_server_errors_back_off_and_give_up_after_the_last_attempt(self):
        self.evaluator()
        [trace_id] = self.runs()
        for _ in range(decisions.MAX_ATTEMPTS):
            self.judge.answer(503, "upstream down")
        now = timezone.now()
        waits = []
        for _ in range(decisions.MAX_ATTEMPTS):
            evaluate_runs(now)
            evaluation = self.evaluation(trace_id)
            if evaluation.status == Status.PENDING:
                waits.append(evaluation.next_attempt_at - now)
                now = evaluation.next_attempt_at

        assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.attempts) == (Status.ERROR, decisions.MAX_ATTEMPTS)
        assert evaluation.error == f"the judge answered 503: upstream down (attempt {decisions.MAX_ATTEMPTS})"
        assert len(self.judge.requests) == decisions.MAX_ATTEMPTS

    def test_a_refused_connection_is_transient(self):
        self.evaluator(base_url="http://127.0.0.1:9/v1")
        [trace_id] = self.runs()
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert evaluation.status == Status.PENDING
        assert evaluation.error.startswith("could not reach the judge")

    def test_a_client_error_is_not_retried(self):
        self.evaluator()
        [trace_id] = self.runs()
        self.judge.answer(401, '{"error": {"message": "Incorrect API key provided"}}')
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert evaluation.status == Status.ERROR
        assert evaluation.error.startswith("the judge answered 401")

    def test_a_lease_is_taken_once(self):
        self.evaluator()
        [trace_id] = self.runs()
        now = timezone.now()
        claim_runs(now)
        pk = self.evaluation(trace_id).pk
        assert evaluator_services._lease(pk, now) is True
        assert evaluator_services._lease(pk, now) is False
        assert evaluate_runs(now).judged == 0, "a leased evaluation is not judged by another pass"


class CostAndCapTests(EvaluatorTestCase):
    def test_the_judge_call_is_priced_with_genai_prices(self):
        self.evaluator()
        [trace_id] = self.runs()
        self.judge.prompt_tokens, self.judge.completion_tokens, self.judge.cached_tokens = 1200, 150, 400
        evaluate_runs(timezone.now())

        evaluation = self.evaluation(trace_id)
        expected = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=1200, output_tokens=150, cache_read_tokens=400),
            model_ref="gpt-4o-mini-2024-07-18",
        ).total_price
        assert expected == Decimal("0.000240")  # 800 * 0.15 + 400 * 0.075 + 150 * 0.60 per million
        assert evaluation.cost_usd == expected
        assert (evaluation.cost_source, evaluation.price_ref) == ("computed", "openai:gpt-4o-mini")
        assert (evaluation.input_tokens, evaluation.output_tokens, evaluation.cache_read_tokens) == (1200, 150, 400)
        assert evaluation.judge_model == "gpt-4o-mini-2024-07-18"

    def test_an_unknown_judge_model_is_recorded_unpriced(self):
        self.evaluator(judge_model="my-private-judge")
        self.judge.model = "my-private-judge"
        [trace_id] = self.runs()
        evaluate_runs(timezone.now())
        evaluation = self.evaluation(trace_id)
        assert (evaluation.status, evaluation.cost_usd, evaluation.cost_source) == (Status.DONE, None, "unpriced")
        assert evaluation.input_tokens == 1000

    def test_the_daily_cap_stops_judging_until_the_next_day(self):
        # Each call costs 1000 * 0.15 + 200 * 0.60 per million = $0.00027.
        evaluator = self.evaluator(daily_cap_usd=Decimal("0.0005"))
        self.runs(5)
        now = timezone.now()

        evaluate_runs(now)

        statuses = sorted(evaluator.evaluations.values_list("status", flat=True))
        assert statuses == [Status.DONE] * 2 + [Status.SKIPPED_CAP] * 3
        assert len(self.judge.requests) == 2, "no call once today's spend reached the cap"
        skipped = evaluator.evaluations.filter(status=Status.SKIPPED_CAP).first()
        assert skipped.error == "daily cap of $0.000500 reached"
        assert skipped.cost_usd is None
        assert Score.objects.count() == 2

        tomorrow = now + timedelta(days=1)
        post_spans(self.key, run_spans("tomorrow", end=tomorrow))
        evaluate_runs(tomorrow + timedelta(seconds=1))
        assert len(self.judge.requests) == 3, "a new day, a new cap"

    def test_a_zero_cap_never_calls(self):
        evaluator = self.evaluator(daily_cap_usd=Decimal(0))
        self.runs(2)
        evaluate_runs(timezone.now())
        assert set(evaluator.evaluations.values_list("status", flat=True)) == {Status.SKIPPED_CAP}
        assert self.judge.requests == []
