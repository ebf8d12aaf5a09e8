"""Writes for evaluators (LLM-as-judge on live runs): save one, and the pass the beat runs every
minute, `evaluate_runs`, in two steps that are each safe to run twice or side by side.

1. **Claim.** For every enabled evaluator, the runs that finished since it was created (within
   LOOKBACK), whose root span has arrived, that nothing has changed for SETTLE seconds, that match
   its filters and that it has not decided yet. Each gets an Evaluation row, `pending` when the
   trace id falls in the sample and `not_sampled` otherwise. The row's unique (evaluator, trace)
   key is the claim: a redelivered task inserts nothing and so judges nothing again.
2. **Judge.** Pending evaluations that are due are leased (compare-and-swap on `next_attempt_at`,
   as budget alerts are), then judged in waves of at most AGENTLEDGER_JUDGE_CONCURRENCY parallel
   HTTP calls; the database work stays on the task's own thread. Before each call the daily cap
   is checked: at or over it, the evaluation is `skipped_cap` and no call is made. A transient
   failure (429, 5xx, timeout) is tried again later (Retry-After, else backoff), up to
   MAX_ATTEMPTS tries; an answer that is not a verdict is an `error`, never a score.

The judge's tokens and cost are recorded on the evaluation only: never on a span or the run, so
the agent's cost stays what the agent spent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from ingest.models import Run, Span
from pricing import book, lookup
from scores.evaluators import decisions, judge, rubric, selectors
from scores.models import Evaluation, Evaluator, Score
from scores.services import NewScore, scores_upsert

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)  # runs that ended longer ago than this are never claimed
CLAIMS_PER_EVALUATOR = 1000  # per pass; the rest wait for the next one
LEASE = timedelta(minutes=10)  # longer than a task may run: a lease outlives only a dead worker
PASS_BUDGET_SECONDS = 45.0  # no new wave after this, so a pass ends about when the next one is due
Status = Evaluation.Status


# --- configuration -------------------------------------------------------------------------


def evaluator_save(evaluator: Evaluator) -> Evaluator:
    """Validate and save. Errors are keyed by field, for the API and the admin alike."""
    errors: dict[str, list[str]] = {}
    try:
        evaluator.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = dict(exc.message_dict)
    if (
        evaluator.name
        and Evaluator.objects.filter(project_id=evaluator.project_id, name=evaluator.name)
        .exclude(pk=evaluator.pk)
        .exists()
    ):
        errors.setdefault("name", []).append("this project already has an evaluator with this name")
    if evaluator.base_url and not host_allowed(evaluator.base_url):
        errors.setdefault("base_url", []).append(
            "this host is not in AGENTLEDGER_JUDGE_ALLOWED_HOSTS: "
            + ", ".join(settings.AGENTLEDGER_JUDGE_ALLOWED_HOSTS)
        )
    if errors:
        raise ValidationError(errors)
    evaluator.save()
    return evaluator


def host_allowed(url: str) -> bool:
    allowed = settings.AGENTLEDGER_JUDGE_ALLOWED_HOSTS
    return not allowed or (urlsplit(url).hostname or "").lower() in {h.lower() for h in allowed}


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str


def endpoint(evaluator: Evaluator) -> Endpoint:
    """Where the evaluator's judge lives. The key from settings goes only to the URL from
    settings: an evaluator that names its own URL brings its own key, so nobody can send the
    operator's key to a server of their choosing."""
    default = settings.AGENTLEDGER_JUDGE_BASE_URL
    base_url = evaluator.base_url or default
    shared_key = settings.AGENTLEDGER_JUDGE_API_KEY if base_url.rstrip("/") == default.rstrip("/") else ""
    return Endpoint(base_url, evaluator.api_key or shared_key)


# --- the pass --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassResult:
    claimed: int
    judged: int


def evaluate_runs(now: datetime | None = None) -> PassResult:
    """One pass: claim newly finished runs, then judge the due ones. `now` is for tests."""
    claimed = claim_runs(now or timezone.now())
    judged = judge_due(now)
    return PassResult(claimed, judged)


def claim_runs(now: datetime) -> int:
    return sum(_claim(evaluator, now) for evaluator in Evaluator.objects.filter(enabled=True).order_by("pk"))


def _claim(evaluator: Evaluator, now: datetime) -> int:
    settled = now - timedelta(seconds=settings.AGENTLEDGER_JUDGE_SETTLE_SECONDS)
    runs = Run.objects.filter(
        project_id=evaluator.project_id,
        has_root=True,
        end_time__gte=max(evaluator.created_at, now - LOOKBACK),
        updated_at__lte=settled,
    )
    if evaluator.agent_name:
        runs = runs.filter(agent_name=evaluator.agent_name)
    if evaluator.run_status != Evaluator.RunStatus.ANY:
        runs = runs.filter(status=evaluator.run_status)
    if evaluator.min_run_cost_usd is not None:
        runs = runs.filter(cost_usd__gte=evaluator.min_run_cost_usd)
    decided = Evaluation.objects.filter(evaluator=evaluator, trace_id=OuterRef("trace_id"))
    trace_ids = list(
        runs.filter(~Exists(decided))
        .order_by("end_time", "pk")
        .values_list("trace_id", flat=True)[:CLAIMS_PER_EVALUATOR]
    )
    rows = [
        Evaluation(project_id=evaluator.project_id, evaluator=evaluator, trace_id=trace_id, next_attempt_at=now)
        if decisions.sampled(evaluator.pk, trace_id, evaluator.sample_rate)
        else Evaluation(
            project_id=evaluator.project_id,
            evaluator=evaluator,
            trace_id=trace_id,
            status=Status.NOT_SAMPLED,
            finished_at=now,
        )
        for trace_id in trace_ids
    ]
    # A row another pass inserted first stays as it is: that pass decided the run.
    Evaluation.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


def judge_due(now: datetime | None = None) -> int:
    """Lease up to AGENTLEDGER_JUDGE_CALLS_PER_PASS due evaluations and judge them. Returns how
    many judge calls were made. Leasing them all first means a second pass running at the same
    time finds nothing to do instead of doubling the calls in flight."""
    clock: Callable[[], datetime] = (lambda: now) if now else timezone.now
    started, start = time.monotonic(), clock()
    due = Evaluation.objects.filter(status=Status.PENDING, next_attempt_at__lte=start, evaluator__enabled=True)
    picked = list(
        due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[: settings.AGENTLEDGER_JUDGE_CALLS_PER_PASS]
    )
    leased = [pk for pk in picked if _lease(pk, start)]
    queue = list(Evaluation.objects.filter(pk__in=leased).select_related("evaluator__project").order_by("pk"))
    calls = 0
    with (
        judge.client(settings.AGENTLEDGER_JUDGE_TIMEOUT) as http,
        ThreadPoolExecutor(settings.AGENTLEDGER_JUDGE_CONCURRENCY, thread_name_prefix="judge") as pool,
    ):
        while queue and time.monotonic() - started < PASS_BUDGET_SECONDS:
            wave, queue = _plan_wave(queue, clock())
            started_calls = [(evaluation, _start(pool, http, evaluation)) for evaluation in wave]
            for evaluation, call in started_calls:
                calls += isinstance(call, Future)
                _record(evaluation, call, clock())
    if queue:  # out of time: hand the rest back, untried
        Evaluation.objects.filter(pk__in=[e.pk for e in queue], status=Status.PENDING).update(
            next_attempt_at=start, attempts=F("attempts") - 1
        )
    return calls


def _lease(pk: int, now: datetime) -> bool:
    """Compare-and-swap: only the pass that moves `next_attempt_at` past now judges the row."""
    return (
        Evaluation.objects.filter(pk=pk, status=Status.PENDING, next_attempt_at__lte=now).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
        == 1
    )


def _plan_wave(queue: list[Evaluation], now: datetime) -> tuple[list[Evaluation], list[Evaluation]]:
    """Split the queue into the calls to start now and the ones that wait. Evaluations over their
    evaluator's cap are finished here as `skipped_cap`. The queue's first evaluation is always
    either finished or started, so every wave moves the loop on."""
    admissions: dict[int, decisions.Admission] = {}
    wave: list[Evaluation] = []
    rest: list[Evaluation] = []
    for evaluation in queue:
        evaluator = evaluation.evaluator
        if evaluator.pk not in admissions:
            admissions[evaluator.pk] = decisions.Admission(
                spent=selectors.spend_today(evaluator, now),
                cap=evaluator.daily_cap_usd,
                estimate=selectors.last_call_cost(evaluator),
            )
        admission = admissions[evaluator.pk]
        if admission.over_cap:
            _finish(evaluation, Status.SKIPPED_CAP, now, error=f"daily cap of ${evaluator.daily_cap_usd} reached")
        elif len(wave) < settings.AGENTLEDGER_JUDGE_CONCURRENCY and admission.admit():
            wave.append(evaluation)
        else:
            rest.append(evaluation)
    return wave, rest


@dataclass(frozen=True, slots=True)
class _Failed:
    """A call that was not made: the run is gone, the rubric failed, or too many tries."""

    message: str


def _start(pool: ThreadPoolExecutor, http: httpx2.Client, evaluation: Evaluation) -> Future[judge.JudgeReply] | _Failed:
    """Prepare the call on this thread (it reads the run) and start it on the pool."""
    evaluator = evaluation.evaluator
    if evaluation.attempts > decisions.MAX_ATTEMPTS:
        return _Failed(f"gave up after {decisions.MAX_ATTEMPTS} attempts ({evaluation.error or 'no answer'})")
    target = endpoint(evaluator)
    if not host_allowed(target.base_url):
        return _Failed(f"the judge's host is not in AGENTLEDGER_JUDGE_ALLOWED_HOSTS: {target.base_url}")
    try:
        prompt = rubric.render(evaluator.rubric, run_context(evaluation))
    except (rubric.RubricError, LookupError) as exc:
        return _Failed(str(exc))
    body = decisions.chat_request(model=evaluator.judge_model, verdict_type=evaluator.verdict_type, prompt=prompt)
    return pool.submit(judge.complete, http, base_url=target.base_url, api_key=target.api_key, body=body)


def run_context(evaluation: Evaluation) -> dict[str, Any]:
    """What the rubric sees of the run: its input, output and tool calls, as plain data."""
    run = Run.objects.filter(project_id=evaluation.project_id, trace_id=evaluation.trace_id).first()
    if run is None:
        raise LookupError("the run is no longer stored (retention?)")
    tools = Span.objects.filter(project_id=evaluation.project_id, trace_id=evaluation.trace_id, kind="tool")
    shown = tools.order_by("start_time", "span_id").only(
        "tool_name", "name", "input", "output", "is_error", "error_type", "error_message"
    )[: rubric.MAX_TOOL_CALLS]
    calls = [
        rubric.tool_call(
            span.tool_name or span.name,
            span.input,
            span.output,
            (span.error_message or span.error_type or "failed") if span.is_error else "",
        )
        for span in shown
    ]
    return rubric.context(
        input=run.input,
        output=run.output,
        calls=rubric.tool_calls(calls, total=run.tool_calls),
        run={
            "trace_id": run.trace_id,
            "name": run.name,
            "agent_name": run.agent_name,
            "status": run.status,
            "error": run.error_message,
            "duration_ms": run.duration_ms,
            "cost_usd": run.cost_usd,
        },
    )


def _record(evaluation: Evaluation, started: Future[judge.JudgeReply] | _Failed, now: datetime) -> None:
    if isinstance(started, _Failed):
        _finish(evaluation, Status.ERROR, now, error=started.message)
        return
    try:
        reply = started.result()
    except judge.JudgeError as exc:
        if exc.transient and evaluation.attempts < decisions.MAX_ATTEMPTS:
            retry_at = now + decisions.retry_delay(evaluation.attempts, exc.retry_after)
            Evaluation.objects.filter(pk=evaluation.pk, status=Status.PENDING).update(
                next_attempt_at=retry_at, error=exc.message
            )
            log.info("evaluation %s: %s; trying again at %s", evaluation.pk, exc.message, retry_at.isoformat())
        else:
            attempts = f" (attempt {evaluation.attempts})" if exc.transient else ""
            _finish(evaluation, Status.ERROR, now, error=exc.message + attempts)
        return
    _record_reply(evaluation, reply, now)


def _record_reply(evaluation: Evaluation, reply: judge.JudgeReply, now: datetime) -> None:
    """A paid answer: its tokens and cost are kept whether or not it holds a verdict."""
    evaluator = evaluation.evaluator
    price = judge_price(evaluation, reply, now)
    usage = {
        "judge_model": (reply.model or evaluator.judge_model)[:200],
        "input_tokens": reply.usage.input_tokens,
        "output_tokens": reply.usage.output_tokens,
        "cache_read_tokens": reply.usage.cache_read_tokens,
        "reasoning_tokens": reply.usage.reasoning_tokens,
        "cost_usd": price.cost,
        "cost_source": price.source,
        "price_ref": price.model_ref[:200],
    }
    try:
        verdict = decisions.parse_verdict(evaluator.verdict_type, reply.content)
    except decisions.VerdictError as exc:
        _finish(evaluation, Status.ERROR, now, error=str(exc), **usage)
        return
    binary = evaluator.verdict_type == Evaluator.VerdictType.BINARY
    new = NewScore(
        trace_id=evaluation.trace_id,
        name=evaluator.scores_as,
        data_type=Score.DataType.BOOLEAN if binary else Score.DataType.NUMERIC,
        value=verdict.value,
        label=verdict.label,
        explanation=verdict.reason,
        source=Score.Source.EVALUATOR,
        author=evaluator.name,
    )
    with transaction.atomic():
        scores_upsert(evaluator.project, [new])
        score = Score.objects.get(
            project_id=evaluation.project_id,
            trace_id=new.trace_id,
            span_id="",
            name=new.name,
            source=new.source,
            author=new.author,
        )
        _finish(evaluation, Status.DONE, now, score=score, **usage)


def judge_price(evaluation: Evaluation, reply: judge.JudgeReply, at: datetime) -> book.Price:
    """The judge's call priced like any LLM call: the project's overrides, else genai-prices.
    The model the endpoint reports (often dated: gpt-4o-mini-2024-07-18) is tried first, then the
    one configured."""
    overrides = lookup.overrides_for(evaluation.evaluator.project)
    price = book.UNPRICED
    for model in dict.fromkeys(m for m in (reply.model, evaluation.evaluator.judge_model) if m):
        price = book.price_call(provider="", model=model, usage=reply.usage, at=at, overrides=overrides)
        if price.cost is not None:
            return price
    return price


def _finish(evaluation: Evaluation, status: str, now: datetime, **fields: Any) -> None:
    """End a leased evaluation. Only a pending row changes: a row is finished once."""
    Evaluation.objects.filter(pk=evaluation.pk, status=Status.PENDING).update(
        status=status, finished_at=now, next_attempt_at=None, **{"error": "", **fields}
    )


def judge_model_priced(evaluator: Evaluator) -> bool:
    """Can the evaluator's calls be priced (project override or genai-prices)? If not, its
    daily cap cannot stop it: the admin warns when such an evaluator is saved."""
    usage = book.Usage(1000, 100, None, None, None)
    overrides = lookup.overrides_for(evaluator.project)
    price = book.price_call(
        provider="", model=evaluator.judge_model, usage=usage, at=timezone.now(), overrides=overrides
    )
    return price.cost is not None
