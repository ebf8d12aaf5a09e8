"""Reads for evaluators: today's judge spend (the daily cap and the admin), the cost estimate
of the next call, and a run's evaluations (the run page shows their cost)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from ingest.timeranges import TimeRange, calendar_range
from scores.models import Evaluation, Evaluator
from tenancy.models import Project


def today(evaluator: Evaluator, now: datetime | None = None) -> TimeRange:
    """The project's calendar day: the cap resets at the project's midnight, like its budgets."""
    day = calendar_range("today", evaluator.project.tz, now or timezone.now())
    if day is None:  # "today" always names a range
        raise ValueError("no calendar range for today")
    return day


def spend_today(evaluator: Evaluator, now: datetime | None = None) -> Decimal:
    """The judge cost of the evaluator's calls that finished today (unpriced calls count 0)."""
    day = today(evaluator, now)
    total = Evaluation.objects.filter(
        evaluator=evaluator, finished_at__gte=day.since, finished_at__lt=day.until
    ).aggregate(total=Sum("cost_usd"))["total"]
    return total if total is not None else Decimal(0)


def last_call_cost(evaluator: Evaluator) -> Decimal | None:
    """The cost of the evaluator's latest priced judge call: what the next one will likely cost."""
    return (
        Evaluation.objects.filter(evaluator=evaluator, cost_usd__isnull=False)
        .order_by("-finished_at", "-pk")
        .values_list("cost_usd", flat=True)
        .first()
    )


def evaluators_with_counts(evaluators: QuerySet[Evaluator]) -> QuerySet[Evaluator]:
    """Each evaluator with `done_count` and `error_count` (all time), in one query."""
    return evaluators.annotate(
        done_count=Count("evaluations", filter=Q(evaluations__status=Evaluation.Status.DONE)),
        error_count=Count("evaluations", filter=Q(evaluations__status=Evaluation.Status.ERROR)),
    )


def run_evaluations(project: Project, trace_id: str) -> dict[int, Evaluation]:
    """The run's finished evaluations that wrote a score, by score id."""
    evaluations = Evaluation.objects.filter(project=project, trace_id=trace_id, score__isnull=False)
    return {e.score_id: e for e in evaluations if e.score_id is not None}
