"""Hourly score aggregates per agent and score name, bucketed like the run rollups (by the hour
the run started), so the dashboard reads quality beside cost from small tables.

A score belongs to a run by trace id and may arrive before or after it: a score marks its run's
hour dirty (`mark_runs_dirty`), and a run arriving later marks its hour itself, so the next
rollup pass (which recomputes the hour's runs and then, through `hour_rolled_up`, its scores)
always sees both."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models.functions import TruncHour

from aggregates import rollups
from aggregates.models import Mark
from ingest import storable, timeranges
from ingest.models import Run
from scores.models import Score, ScoreRollup
from tenancy.models import Project


@dataclass(slots=True)
class _Totals:
    scores: int = 0
    value_sum: float = 0.0
    booleans: int = 0
    passed: int = 0
    runs: set[str] = field(default_factory=set)
    failing_runs: set[str] = field(default_factory=set)
    boolean_runs: set[str] = field(default_factory=set)


def rollup_scores_hour(project: Project, hour: datetime) -> None:
    """Replace the hour's score rows from the scores of the runs that started in it."""
    if not Score.objects.filter(project=project).exists() and not ScoreRollup.objects.filter(project=project).exists():
        return  # the common case at high volume: nothing to read the hour's runs for
    hour_runs = Run.objects.filter(project=project, start_time__gte=hour, start_time__lt=hour + timeranges.HOUR)
    runs = {t: (agent, cost) for t, agent, cost in hour_runs.values_list("trace_id", "agent_name", "cost_usd")}
    totals: dict[tuple[str, str], _Totals] = defaultdict(_Totals)
    if runs:
        scored = Score.objects.filter(project=project, trace_id__in=hour_runs.values("trace_id"))
        for trace_id, name, data_type, value in scored.values_list("trace_id", "name", "data_type", "value"):
            if value is None or trace_id not in runs:
                continue
            t = totals[(runs[trace_id][0], name)]
            t.scores += 1
            t.value_sum += value
            t.runs.add(trace_id)
            if data_type == Score.DataType.BOOLEAN:
                t.booleans += 1
                t.passed += value >= 1
                t.boolean_runs.add(trace_id)
                if value < 1:
                    t.failing_runs.add(trace_id)
    ScoreRollup.objects.filter(project=project, bucket=hour).delete()
    ScoreRollup.objects.bulk_create(
        ScoreRollup(
            project=project,
            bucket=hour,
            agent_name=agent,
            name=name,
            scores=t.scores,
            value_sum=t.value_sum,
            booleans=t.booleans,
            passed=t.passed,
            runs=len(t.runs),
            # saturated at the column's NUMERIC(18,10): runs claiming billions must not fail the hour
            cost_usd=storable.money(sum((runs[trace][1] or Decimal(0) for trace in t.runs), Decimal(0)), 18, 10),
            passing_runs=len(t.boolean_runs - t.failing_runs),
        )
        for (agent, name), t in totals.items()
    )


def mark_runs_dirty(project: Project, trace_ids: Iterable[str]) -> None:
    """Mark the hours of these runs (those already stored) for the next rollup pass."""
    hours = (
        Run.objects.filter(project=project, trace_id__in=list(set(trace_ids)))
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values_list("hour", flat=True)
        .order_by()
        .distinct()
    )
    rollups.mark_dirty(project, Mark.SCORES, hours)
