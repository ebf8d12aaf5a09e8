"""Evaluators end to end: runs sent over HTTP, a real Celery worker running the evaluation task
through the configured broker (embedded, or Redis in CI), and a local OpenAI-compatible server as
the judge. The task is sent the way beat sends it, and sometimes twice, as a broker may."""

from __future__ import annotations

import time
from decimal import Decimal

import genai_prices
import pytest

from ingest import tasks as ingest_tasks
from ingest.models import Run, WorkerHeartbeat
from scores import tasks as score_tasks
from scores.evaluators import decisions
from scores.models import Evaluation, Score
from tests import processes
from tests.factories import make_project
from tests.fakes.judge_server import fake_judge
from tests.scores.judging import make_evaluator, post_spans, run_spans

Status = Evaluation.Status
pytestmark = pytest.mark.django_db(transaction=True)


def worker(tmp_path, **env):
    return processes.running(
        processes.celery_worker_cmd(),
        env=processes.child_env(AGENTLEDGER_JUDGE_SETTLE_SECONDS="0", **env),
        log=tmp_path / "worker.log",
    )


def barrier(name):
    """Wait until the worker has run every task sent before this one (the solo worker runs
    them in order)."""
    ingest_tasks.record_heartbeat.delay(name)
    processes.wait_for(
        lambda: WorkerHeartbeat.objects.filter(name=name).exists(), timeout=90, what=f"the worker to reach {name}"
    )


def evaluate_until_settled(label, *, deliveries=2, rounds=10):
    """Send the evaluation task `deliveries` times per round until nothing is pending."""
    for round_ in range(rounds):
        for _ in range(deliveries):
            score_tasks.evaluate_runs.delay()
        barrier(f"{label}-{round_}")
        if not Evaluation.objects.filter(status=Status.PENDING).exists():
            return
        time.sleep(0.5)  # a retry may be due in a moment (Retry-After)
    raise AssertionError("evaluations still pending after all rounds")


def test_sampling_honours_the_rate_each_run_is_judged_once_and_the_judge_cost_is_recorded(tmp_path):
    project, key = make_project("Support")
    with fake_judge() as judge:
        evaluator = make_evaluator(project, base_url=judge.url, sample_rate=Decimal(50))
        spans = [span for i in range(200) for span in run_spans(f"run-{i}")]
        trace_ids = post_spans(key, spans)
        run_costs = dict(Run.objects.values_list("trace_id", "cost_usd"))
        expected = {t for t in trace_ids if decisions.sampled(evaluator.pk, t, Decimal(50))}

        with worker(tmp_path):
            evaluate_until_settled("sampling")  # every round sends the task twice
            score_tasks.evaluate_runs.delay()  # and once more, after everything was decided
            barrier("sampling-after")

    assert 80 <= len(expected) <= 120, "50% of 200 runs"
    judged = [r.prompt.rsplit("Run ", 1)[1].split(" ", 1)[0] for r in judge.requests]
    assert sorted(judged) == sorted(expected), "each sampled run judged exactly once, no other run judged"
    decided = dict(Evaluation.objects.values_list("trace_id", "status"))
    assert decided == {t: Status.DONE if t in expected else Status.NOT_SAMPLED for t in trace_ids}
    assert set(Score.objects.filter(source="evaluator").values_list("trace_id", flat=True)) == expected

    per_call = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1000, output_tokens=200), model_ref="gpt-4o-mini-2024-07-18"
    ).total_price
    assert per_call == Decimal("0.00027")
    costs = set(Evaluation.objects.filter(status=Status.DONE).values_list("cost_usd", "cost_source"))
    assert costs == {(per_call, "computed")}
    assert dict(Run.objects.values_list("trace_id", "cost_usd")) == run_costs, "the agents' costs are untouched"


def test_bad_verdicts_are_errors_a_429_is_retried_and_the_rubric_sees_the_run(tmp_path):
    project, key = make_project("Support")
    with fake_judge() as judge:
        make_evaluator(project, base_url=judge.url, verdict_type="scale", name="helpfulness")
        answers = {"Where is order 1?": "Probably fine.", "Where is order 2?": '{"score": 12, "reason": "wow"}'}
        judge.content = lambda request: next(
            (answer for question, answer in answers.items() if question in request.prompt),
            '{"score": 8, "reason": "correct and polite"}',
        )
        judge.answer(429, '{"error": {"message": "rate limited"}}', {"Retry-After": "1"})
        traces = {
            f"order {i}": post_spans(
                key, run_spans(f"run-{i}", question=f"Where is order {i}?", answer=f"Order {i} ships today.")
            )[0]
            for i in (1, 2, 3)
        }

        with worker(tmp_path, AGENTLEDGER_JUDGE_CONCURRENCY="1"):
            evaluate_until_settled("verdicts", deliveries=1)

    outcome = {q: Evaluation.objects.get(trace_id=t) for q, t in traces.items()}
    assert outcome["order 1"].status == Status.ERROR
    assert outcome["order 1"].error == 'the judge\'s answer is not JSON: "Probably fine."'
    assert outcome["order 2"].status == Status.ERROR
    assert outcome["order 2"].error == '"score" 12 is outside 0-10'
    assert outcome["order 3"].status == Status.DONE
    assert set(Score.objects.values_list("trace_id", "value", "explanation")) == {
        (traces["order 3"], 8.0, "correct and polite")
    }, "only the readable verdict is a score"
    # The first call was answered 429 and tried again: four calls for three runs, one retried.
    assert len(judge.requests) == 4
    assert sorted(e.attempts for e in outcome.values()) == [1, 1, 2]
    retried = next(e for e in outcome.values() if e.attempts == 2)
    prompts = [r.prompt for r in judge.requests]
    assert prompts.count(prompts[0]) == 2
    assert retried.trace_id in prompts[0]
    # The rubric received the run's input, output and tool call.
    prompt = next(r.prompt for r in judge.requests if "order 3" in r.prompt)
    assert "Customer:\nuser: Where is order 3?\n" in prompt
    assert "Agent's answer:\nOrder 3 ships today.\n" in prompt
    assert (
        '1. tool lookup_order\narguments: {\n  "order_id": 42\n}\nresult: {\n  "eta": "Friday",\n  "status": "shipped"\n}'
        in prompt
    )
    assert judge.requests[-1].json["response_format"] == {"type": "json_object"}
    assert judge.requests[-1].headers["authorization"] == "Bearer sk-test-judge-key-0001"


def test_the_spend_cap_stops_judging_for_the_day(tmp_path):
    project, key = make_project("Support", timezone_name="Europe/Paris")
    with fake_judge() as judge:
        # Each call costs $0.00027: the cap allows two calls, the second crossing it.
        evaluator = make_evaluator(project, base_url=judge.url, daily_cap_usd=Decimal("0.0005"))
        post_spans(key, [span for i in range(6) for span in run_spans(f"run-{i}")])

        with worker(tmp_path):
            evaluate_until_settled("cap")
            post_spans(key, run_spans("later-today"))
            evaluate_until_settled("cap-later")

    statuses = list(evaluator.evaluations.values_list("status", flat=True))
    assert sorted(statuses) == [Status.DONE] * 2 + [Status.SKIPPED_CAP] * 5
    assert len(judge.requests) == 2
    assert Score.objects.count() == 2
    done = evaluator.evaluations.filter(status=Status.DONE)
    assert sum(e.cost_usd for e in done) == Decimal("0.00054")
