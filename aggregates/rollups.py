"""Services: the rollup rows of runs, LLM calls and tool calls by minute, hour and UTC day (Zulip-style).

Seven tables, each with minute, hour and UTC-day rows: RunRollup (agent, API key, status),
UserRollup (user, agent: the one high-cardinality dimension kept apart so the other tables stay
small), LlmCallRollup (agent, model, provider, API key), ToolCallRollup (agent, tool), and three
coarser copies for the views that slice by user, model or tool alone (UserTotalRollup,
ModelRollup, ToolRollup). Each row carries sums and a mergeable duration sketch
(aggregates/sketches.py). Everything is bucketed by the start of the run, so the rows of one range
add up to the same totals whichever dimension they are grouped by, and equal the runs' own totals.

Every row is the sum of the contributions of the runs that started in its bucket
(aggregates/contributions.py). Intake's changes reach the rows as deltas within seconds
(aggregates/deltas.py); this module is the reference and the repair tool: `rollup_hour`
recomputes an hour's minute and hour rows and its runs' contributions from the spans, and
`rollup_day` a UTC day from its hours. Both run for RollupDirty marks (`rollup --rebuild`, an
upgrade, a row that went below zero), claimed with a compare-and-swap on `claimed_at`, under the
project's rollup lock, which the delta pass takes too. The same pass tells scores which hours'
runs changed (Mark.SCORES) through `hour_rolled_up`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from aggregates import contributions, deltas, signals, sketches, writing
from aggregates.contributions import SHAPES, TABLES, Contribution, Entry
from aggregates.models import Mark, Period, RollupDirty, RollupModel, RunContribution, TraceDirty
from ingest import timeranges
from ingest.models import Run, Span
from tenancy.models import Project

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)  # longer than CELERY_TASK_TIME_LIMIT
PASS_SECONDS = 240  # a beat pass claims no new bucket after this (under the soft time limit)
HOUR, DAY = timeranges.HOUR, timeranges.DAY
BATCH_RUNS = 5_000  # a rebuild recomputes sparse hours together, up to this many runs at once

Row = writing.Row


RollupFailed = deltas.RollupFailed  # some work failed; its marks stay for the next pass


# --- Marking -------------------------------------------------------------------------------


def mark_traces_dirty(project: Project, trace_ids: Iterable[str]) -> None:
    """These traces changed (repricing): their deltas are due, and their hours' scores."""
    trace_ids = list(trace_ids)
    deltas.mark_traces(project, trace_ids)
    hours = (
        Span.objects.filter(project=project, trace_id__in=trace_ids)
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values_list("hour", flat=True)
        .order_by()
        .distinct()
    )
    mark_dirty(project, Mark.SCORES, hours)


def mark_spans_stored(project: Project, trace_ids: Iterable[str], span_starts: Iterable[datetime]) -> None:
    """Intake, in its transaction, with every span start of the traces it touched (stored before
    or now): their deltas are due, and the scores of the hours a run may have moved between."""
    deltas.mark_traces(project, trace_ids)
    mark_dirty(project, Mark.SCORES, {timeranges.floor_hour(start) for start in span_starts})


def mark_dirty(project: Project, mark: str, buckets: Iterable[datetime]) -> None:
    """Upsert a dirty row per bucket with a fresh token (and no claim), in bucket order so that
    concurrent transactions lock the rows in the same order."""
    horizon = retention_horizon(project)
    token = uuid.uuid4().hex
    rows = [
        RollupDirty(project=project, period=mark, bucket=bucket, token=token)
        for bucket in sorted(set(buckets))
        if mark == Mark.DAY or horizon is None or bucket >= horizon
    ]
    RollupDirty.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["project", "period", "bucket"],
        update_fields=["token", "claimed_at"],
    )


def retention_horizon(project: Project, now: datetime | None = None) -> datetime | None:
    """Hours before this may have lost runs to retention: their rows are kept as they are."""
    if project.retention_days is None:
        return None
    return (now or timezone.now()) - timedelta(days=project.retention_days)


# --- Recomputing ---------------------------------------------------------------------------


def rollup_hour(project: Project, hour: datetime, now: datetime | None = None) -> bool:
    """Recompute one hour's minute and hour rows, and its runs' contributions, from the runs that
    started in it and their spans; False if another writer holds the project's rows."""
    return rollup_hours(project, [hour], now)


def rollup_hours(project: Project, hours: list[datetime], now: datetime | None = None) -> bool:
    """Recompute the rows of every hour from the first of `hours` to the end of the last, in one
    transaction: a rebuild takes the sparse hours of a day together, since the fixed cost of an
    hour (a delete and an insert per table) dwarfs the work of its few runs. Sends
    hour_rolled_up for each of `hours`."""
    now = now or timezone.now()
    horizon = retention_horizon(project, now)
    hours = sorted({timeranges.floor_hour(h) for h in hours if horizon is None or h >= horizon})
    if not hours:
        return True
    start, end = hours[0], hours[-1] + HOUR
    in_range = Q(minute__gte=start, minute__lt=end)
    with transaction.atomic():
        if not deltas.try_lock(project.pk):
            return False
        runs = list(
            Run.objects.filter(project=project, start_time__gte=start, start_time__lt=end)
            .order_by("start_time")
            .values(*contributions.RUN_COLUMNS)
        )
        made = contributions.of_runs(project, runs)
        # A run that moved here from another hour is taken out of that hour's rows.
        moved_in = deltas.Changes(project, now)
        stored = RunContribution.objects.filter(project=project, trace_id__in=list(made))
        for old in stored.exclude(in_range):
            moved_in.add(old.minute, contributions.decode(old.rows), -1)
        moved_in.apply()
        stored.delete()
        RunContribution.objects.filter(in_range, project=project).delete()
        writing.insert_rows(
            RunContribution,
            [
                {"project_id": project.pk, "trace_id": trace_id, "minute": minute, "rows": contributions.encode(c)}
                for trace_id, (minute, c) in made.items()
            ],
        )
        # Minute rows are kept (and written) for the hours after the minute horizon only.
        minutes_from = max(start, timeranges.ceil_hour(deltas.minute_horizon(now)))
        replaced = Q(period=Period.HOUR, bucket__gte=start, bucket__lt=end)
        if minutes_from < end:
            replaced |= Q(period=Period.MINUTE, bucket__gte=minutes_from, bucket__lt=end)
        for model in TABLES:
            model.objects.filter(replaced, project=project).delete()
        rows = _sum_rows(project, Period.HOUR, [(timeranges.floor_hour(m), c) for m, c in made.values()])
        for table, minute_rows in _sum_rows(
            project, Period.MINUTE, [(m, c) for m, c in made.values() if m >= minutes_from]
        ).items():
            rows.setdefault(table, []).extend(minute_rows)
        for table, table_rows in rows.items():
            writing.insert_rows(contributions.BY_NAME[table], table_rows)
        for hour in hours:
            signals.hour_rolled_up.send(sender=Project, project=project, hour=hour)
        mark_dirty(project, Mark.DAY, {timeranges.floor_day(hour) for hour in hours})
    return True


def rollup_day(project: Project, day: datetime) -> bool:
    """Recompute one UTC day's rows from its hourly rows; False if another writer holds them."""
    day = timeranges.floor_day(day)
    with transaction.atomic():
        if not deltas.try_lock(project.pk):
            return False
        for model in TABLES:
            rows = _day_rows(model, project, day)
            model.objects.filter(project=project, period=Period.DAY, bucket=day).delete()
            writing.insert_rows(model, rows)
    return True


def scores_due(project: Project, hour: datetime) -> bool:
    """The hour's runs changed: scores roll the hour up again (through hour_rolled_up)."""
    with transaction.atomic():
        signals.hour_rolled_up.send(sender=Project, project=project, hour=hour)
    return True


def rollup_pending(*, max_seconds: float | None = None) -> int:
    """One pass: apply the deltas intake marked, then the repairs and score hours that are due
    (the hours mark their days). Returns how many traces and buckets were done. Marks made
    during the pass wait for the next."""
    started = time.monotonic()
    failed = 0
    try:
        done = deltas.apply_pending(max_seconds=max_seconds)
    except RollupFailed:
        done, failed = 0, 1
    projects: dict[int, Project] = {}
    work = {Mark.SCORES: scores_due, Mark.HOUR: rollup_hour, Mark.DAY: rollup_day}
    for mark in (Mark.SCORES, Mark.HOUR, Mark.DAY):
        for pk, project_id, bucket, token in _pending(mark):
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return done
            if not _claim(pk, token):
                continue
            if project_id not in projects:
                projects[project_id] = Project.objects.get(pk=project_id)
            try:
                finished = work[mark](projects[project_id], bucket)
            except Exception:
                log.exception("rollup of %s %s (project %s) failed", mark, bucket, project_id)
                _release(pk, token)
                failed += 1
                continue
            if finished:
                RollupDirty.objects.filter(pk=pk, token=token).delete()
                done += 1
            else:  # another writer holds the project's rows; it stays dirty
                _release(pk, token)
    if failed:
        raise RollupFailed(f"{failed} batch(es) or bucket(s) failed and stay marked (see the log)")
    return done


def rollup_until_current(*, max_passes: int = 5) -> int:
    """Run passes until nothing is pending (or max_passes): what `manage.py rollup` does."""
    total = 0
    for _ in range(max_passes):
        total += rollup_pending()
        if not any(_pending(mark) for mark in Mark.values) and not TraceDirty.objects.exists():
            break
    return total


def rebuild(*, project: Project | None = None, since: datetime | None = None) -> int:
    """Drop and recompute every hour from `since` (default: all time) that has runs or rollup
    rows, then their days. Gives the same rows as the deltas. Returns hours redone."""
    count = 0
    deltas.apply_pending()
    for each in [project] if project else Project.objects.order_by("pk"):
        start = timeranges.floor_hour(since) if since else timeranges.EPOCH
        horizon = retention_horizon(each)
        if horizon is not None:
            start = max(start, timeranges.ceil_hour(horizon))
        for hours in _batches(_hours_with_data(each, start)):
            if not rollup_hours(each, hours):
                mark_dirty(each, Mark.HOUR, hours)
            count += len(hours)
    rollup_until_current()
    return count


# --- Internals -----------------------------------------------------------------------------


def _pending(mark: str) -> list[tuple[int, int, datetime, str]]:
    stale = timezone.now() - CLAIM_TIMEOUT
    return list(
        RollupDirty.objects.filter(period=mark)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .order_by("-bucket")  # the newest first: what dashboards look at
        .values_list("pk", "project_id", "bucket", "token")
    )


def _claim(pk: int, token: str) -> bool:
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    return RollupDirty.objects.filter(unclaimed, pk=pk, token=token).update(claimed_at=now) == 1


def _release(pk: int, token: str) -> None:
    RollupDirty.objects.filter(pk=pk, token=token).update(claimed_at=None)


def _sum_rows(project: Project, period: str, parts: list[tuple[datetime, Contribution]]) -> dict[str, list[Row]]:
    """Per table, the rows of `period` summing these contributions (each at the start of its bucket)."""
    sums: dict[tuple[str, datetime, tuple[Any, ...]], Entry] = {}
    for bucket, contribution in parts:
        for (table, dims), entry in contribution.items():
            total = sums.setdefault((table, bucket, dims), Entry([0] * len(entry.measures)))
            total.add(entry)
    rows: dict[str, list[Row]] = {}
    for (table, bucket, key), entry in sums.items():
        dims, measures = SHAPES[contributions.BY_NAME[table]]
        rows.setdefault(table, []).append(
            {
                "project_id": project.pk,
                "period": period,
                "bucket": bucket,
                **dict(zip(dims, key, strict=True)),
                **dict(zip(measures, entry.measures, strict=True)),
                "duration_sketch": sketches.Sketch.of(entry.durations).to_bytes(),
            }
        )
    return rows


def _hours_with_data(project: Project, start: datetime) -> dict[datetime, int]:
    """Hour -> its runs, for every hour from `start` with runs or rollup rows."""
    hours = dict(
        Run.objects.filter(project=project, start_time__gte=start)
        .annotate(hour=TruncHour("start_time", tzinfo=UTC))
        .values("hour")
        .order_by()
        .annotate(runs=Count("pk"))
        .values_list("hour", "runs")
    )
    for model in TABLES:
        for hour in (
            model.objects.filter(project=project, period=Period.HOUR, bucket__gte=start)
            .values_list("bucket", flat=True)
            .order_by()
            .distinct()
        ):
            hours.setdefault(hour, 0)
    return hours


def _batches(hours: dict[datetime, int]) -> Iterator[list[datetime]]:
    """The hours in order, taken together within a UTC day up to BATCH_RUNS runs."""
    batch: list[datetime] = []
    runs = 0
    for hour in sorted(hours):
        if batch and (timeranges.floor_day(hour) != timeranges.floor_day(batch[0]) or runs + hours[hour] > BATCH_RUNS):
            yield batch
            batch, runs = [], 0
        batch.append(hour)
        runs += hours[hour]
    if batch:
        yield batch


def _sums(queryset: Any, dims: tuple[str, ...], **aggregates: Any) -> list[dict[str, Any]]:
    """GROUP BY dims with the given aggregates (aliased, since they share the fields' names)."""
    rows = queryset.values(*dims).order_by().annotate(**{f"agg_{name}": agg for name, agg in aggregates.items()})
    return [{key.removeprefix("agg_"): value for key, value in row.items()} for row in rows]


def _day_rows(model: RollupModel, project: Project, day: datetime) -> list[Row]:
    dims, measures = SHAPES[model]
    hours = model.objects.filter(project=project, period=Period.HOUR, bucket__gte=day, bucket__lt=day + DAY)
    merged = sketches.merge_grouped(
        (tuple(row[:-1]), row[-1]) for row in hours.values_list(*dims, "duration_sketch").iterator(chunk_size=2000)
    )
    rows = []
    for row in _sums(hours, dims, **{m: Sum(m) for m in measures}):
        sketch = merged.get(tuple(row[d] for d in dims)) or sketches.Sketch()
        rows.append(
            {"project_id": project.pk, "period": Period.DAY, "bucket": day, **row, "duration_sketch": sketch.to_bytes()}
        )
    return rows
