"""The delta pass: the rollup rows follow intake within seconds, whatever the size of the hour.

Intake marks each trace it touched (TraceDirty, in its own transaction). A pass takes a batch
of a project's marks, computes each run's contribution again from its spans
(aggregates/contributions.py) and applies to the minute, hour and day rows only the difference
from the contribution it stored last time, then stores the new one and deletes the marks whose
token it read. A re-send that changes nothing applies nothing; a late span moves only its run.

One writer per project at a time: the pass holds the project's rollup lock (a PostgreSQL
advisory lock, the one repairs take too) for its transaction, so a difference is computed
against the contribution the previous writer stored and is never applied twice. SQLite
serializes writers by itself. A change committed while a batch is applied re-marks its trace
with a new token, so its mark survives the batch and the next one applies it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aggregates import contributions, sketches, writing
from aggregates.contributions import SHAPES, Contribution
from aggregates.models import Mark, Period, RollupDirty, RunContribution, TraceDirty
from ingest import timeranges
from ingest.locks import advisory_key
from tenancy.models import Project

log = logging.getLogger(__name__)

BATCH = 500  # traces per transaction

RowKey = tuple[str, str, datetime, tuple[Any, ...]]  # table, period, bucket, dims


def mark_traces(project: Project, trace_ids: Iterable[str]) -> None:
    """Mark these traces for the next pass, in the caller's transaction (sorted, so concurrent
    transactions lock the marks in the same order)."""
    token = uuid.uuid4().hex
    TraceDirty.objects.bulk_create(
        [TraceDirty(project=project, trace_id=trace_id, token=token) for trace_id in sorted(set(trace_ids))],
        update_conflicts=True,
        unique_fields=["project", "trace_id"],
        update_fields=["token"],
    )


def lock_key(project_id: int) -> int:
    return advisory_key("rollups", project_id)


def try_lock(project_id: int) -> bool:
    """The project's rollup lock, for this transaction: False if another writer holds it."""
    if connection.vendor != "postgresql":
        return True  # SQLite: one writer at a time, and this transaction is writing
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_key(project_id)])
        return bool(cursor.fetchone()[0])


class RollupFailed(Exception):
    """Some work could not be done; its marks stay and the next pass retries it."""


def apply_pending(*, max_seconds: float | None = None) -> int:
    """Apply every marked trace (project by project, batch by batch) until none is left or the
    time is up; returns how many traces were applied. A batch that fails is rolled back and
    its marks stay for the next pass (RollupFailed once the others are done)."""
    started = time.monotonic()
    applied = 0
    skipped: set[int] = set()  # projects another writer holds, or whose batch failed
    failed = 0
    while max_seconds is None or time.monotonic() - started < max_seconds:
        pending = set(TraceDirty.objects.order_by().values_list("project_id", flat=True).distinct()) - skipped
        if not pending:
            break
        for project in Project.objects.filter(pk__in=pending):
            try:
                done = apply_batch(project)
            except Exception:
                log.exception("applying the deltas of project %s failed", project.pk)
                failed += 1
                done = None
            if done is None:
                skipped.add(project.pk)
            applied += done or 0
    if failed:
        raise RollupFailed(f"the deltas of {failed} project(s) failed and stay marked (see the log)")
    return applied


def apply_batch(project: Project, limit: int = BATCH, now: datetime | None = None) -> int | None:
    """Apply up to `limit` of the project's marked traces; None if another writer holds it."""
    now = now or timezone.now()
    with transaction.atomic():
        if not try_lock(project.pk):
            return None
        marks = list(
            TraceDirty.objects.filter(project=project).order_by("pk").values_list("pk", "trace_id", "token")[:limit]
        )
        if not marks:
            return 0
        traces = sorted({trace_id for _, trace_id, _ in marks})
        fresh = contributions.of_runs(project, contributions.run_rows(project, traces))
        stored = {c.trace_id: c for c in RunContribution.objects.filter(project=project, trace_id__in=traces)}
        repairing = _hours_under_repair(project, [minute for minute, _ in fresh.values()])
        changes = Changes(project, now)
        records: list[dict[str, Any]] = []
        for trace_id in traces:
            old = stored.get(trace_id)
            if trace_id in fresh:
                minute, contribution = fresh[trace_id]
                if old is None and timeranges.floor_hour(minute) in repairing:
                    continue  # rows from before deltas: the hour's repair counts this run
                changes.add(minute, contribution, +1)
                records.append(
                    {
                        "project_id": project.pk,
                        "trace_id": trace_id,
                        "minute": minute,
                        "rows": contributions.encode(contribution),
                    }
                )
            if old is not None:
                changes.add(old.minute, contributions.decode(old.rows), -1)
        changes.apply()
        # Replaced rather than upserted: a COPY of new rows is a fraction of an upsert's cost.
        RunContribution.objects.filter(project=project, trace_id__in=list(stored)).delete()
        writing.insert_rows(RunContribution, records)
        tokens = {token for _, _, token in marks}
        TraceDirty.objects.filter(pk__in=[pk for pk, _, _ in marks], token__in=tokens).delete()
    return len(marks)


def _hours_under_repair(project: Project, minutes: Iterable[datetime]) -> set[datetime]:
    hours = {timeranges.floor_hour(minute) for minute in minutes}
    marked = RollupDirty.objects.filter(project=project, period=Mark.HOUR, bucket__in=hours)
    return set(marked.values_list("bucket", flat=True))


def minute_horizon(now: datetime) -> datetime:
    """Minute rows older than this are pruned, and no longer written."""
    return now - timedelta(days=settings.AGENTLEDGER_MINUTE_RETENTION_DAYS)


@dataclass(slots=True)
class _Change:
    measures: list[Any]
    added: list[float] = field(default_factory=list)
    removed: list[float] = field(default_factory=list)


class Changes:
    """Differences per rollup row, summed over a batch, then applied once per row."""

    def __init__(self, project: Project, now: datetime) -> None:
        self.project = project
        self.rows: dict[RowKey, _Change] = {}
        self.minute_horizon = minute_horizon(now)
        horizon = None if project.retention_days is None else now - timedelta(days=project.retention_days)
        self.horizon = horizon  # rows before it may have lost runs to retention: kept as they are

    def add(self, minute: datetime, contribution: Contribution, sign: int) -> None:
        if self.horizon is not None and minute < self.horizon:
            return
        buckets = [(Period.HOUR, timeranges.floor_hour(minute)), (Period.DAY, timeranges.floor_day(minute))]
        if minute >= self.minute_horizon:
            buckets.append((Period.MINUTE, minute))
        for (table, dims), entry in contribution.items():
            signed = entry.measures if sign > 0 else [-m for m in entry.measures]
            for period, bucket in buckets:
                key = (table, period, bucket, dims)
                change = self.rows.get(key)
                if change is None:
                    self.rows[key] = change = _Change(list(signed))
                else:
                    change.measures = [a + b for a, b in zip(change.measures, signed, strict=True)]
                (change.added if sign > 0 else change.removed).extend(entry.durations)

    def apply(self) -> None:
        by_table: dict[str, dict[RowKey, _Change]] = {}
        for key, change in self.rows.items():
            if any(change.measures) or sorted(change.added) != sorted(change.removed):
                by_table.setdefault(key[0], {})[key] = change
        for table, changes in sorted(by_table.items()):
            self._apply_table(table, changes)

    def _apply_table(self, table: str, changes: dict[RowKey, _Change]) -> None:
        model = contributions.BY_NAME[table]
        dims, measures = SHAPES[model]
        existing = model.objects.filter(
            project=self.project,
            period__in={key[1] for key in changes},
            bucket__in={key[2] for key in changes},
            **{f"{dims[0]}__in": {key[3][0] for key in changes}},
        ).values_list("pk", "period", "bucket", *dims, *measures, "duration_sketch")
        found = {(table, row[1], row[2], tuple(row[3 : 3 + len(dims)])): row for row in existing}
        updates: list[tuple[int, list[Any], bytes]] = []
        deletes: list[int] = []
        inserts: list[dict[str, Any]] = []
        for key, change in changes.items():
            row = found.get(key)
            before = list(row[3 + len(dims) : -1]) if row else [0] * len(measures)
            sketch = sketches.adjust(bytes(row[-1]) if row else b"", change.added, change.removed)
            after = [a + b for a, b in zip(before, change.measures, strict=True)]
            if any(value < 0 for value in after) or sketch is None:
                self._inconsistent(key)
                after = [max(value, 0) for value in after]
                sketch = sketches.EMPTY if sketch is None else sketch
            empty = not any(after) and sketch == sketches.EMPTY
            if row and empty:
                deletes.append(row[0])
            elif row:
                updates.append((row[0], after, sketch))
            elif not empty:
                inserts.append(
                    {
                        "project_id": self.project.pk,
                        "period": key[1],
                        "bucket": key[2],
                        **dict(zip(dims, key[3], strict=True)),
                        **dict(zip(measures, after, strict=True)),
                        "duration_sketch": sketch,
                    }
                )
        if deletes:
            model.objects.filter(pk__in=deletes).delete()
        writing.update_rows(model, measures, updates)
        writing.insert_rows(model, inserts)

    def _inconsistent(self, key: RowKey) -> None:
        """A row would go below zero: it missed a contribution (rows from before deltas, a crash
        of an old version). Its hour is repaired from the spans."""
        _, period, bucket, _ = key
        log.warning("rollup row %s went below zero; its %s is recomputed", key, period)
        mark = Mark.DAY if period == Period.DAY else Mark.HOUR
        RollupDirty.objects.update_or_create(
            project=self.project,
            period=mark,
            bucket=timeranges.floor_day(bucket) if mark == Mark.DAY else timeranges.floor_hour(bucket),
            defaults={"token": uuid.uuid4().hex, "claimed_at": None},
        )


def prune_minutes(now: datetime | None = None) -> int:
    """Delete minute rows older than the minute retention; returns how many."""
    horizon = minute_horizon(now or timezone.now())
    return sum(
        model.objects.filter(period=Period.MINUTE, bucket__lt=horizon).delete()[0] for model in contributions.TABLES
    )
