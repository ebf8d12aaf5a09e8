"""Rollups: minute, hour and day rows that follow intake by deltas and equal a rebuild from the
spans, however the spans arrive."""

from __future__ import annotations

import unittest
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.models import Count, Sum
from django.test import TestCase, TransactionTestCase
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from aggregates import deltas, rollups, sketches
from aggregates.models import (
    LlmCallRollup,
    Mark,
    ModelRollup,
    Period,
    RollupDirty,
    RunRollup,
    ToolCallRollup,
    ToolRollup,
    TraceDirty,
    UserRollup,
    UserTotalRollup,
)
from config.celery import app as celery_app
from ingest import retention
from ingest.models import Run, Span
from tests.factories import make_project
from tests.ingest.spans import agent_run, ingest, new_span_id, new_trace_id, span

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TABLES = rollups.TABLES


def snapshot(project):
    """Every rollup row of the project, comparable across runs (ids left out)."""
    out = {}
    for model in TABLES:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id",)]
        rows = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in model.objects.filter(project=project).values_list(*fields)
        ]
        out[model.__name__] = sorted(rows, key=repr)
    return out


def hour_totals(project, model, *fields, period=Period.HOUR):
    sums = model.objects.filter(project=project, period=period).aggregate(**{f: Sum(f) for f in fields})
    return {f: sums[f] or 0 for f in fields}


def sketch_count(project, model, period=Period.HOUR):
    blobs = model.objects.filter(project=project, period=period).values_list("duration_sketch", flat=True)
    return sketches.merge(list(blobs)).count


def die_on_tool_rows_update(execute, sql, params, many, context):
    """The database connection dies after the batch's run and LLM rows were updated."""
    if sql.startswith('UPDATE "ingest_toolcallrollup"'):
        raise OperationalError("server closed the connection unexpectedly")
    return execute(sql, params, many, context)


class RollupHourTests(TestCase):
    def setUp(self):
        self.project, _ = make_project()

    def test_an_hour_holds_the_runs_calls_and_tools_that_started_in_it(self):
        ingest(
            self.project,
            agent_run(
                T0 + timedelta(minutes=5),
                calls=[("gpt-test", "0.0100", 1.0), ("claude-test", "0.0250", 2.0), ("gpt-test", None, 0.5)],
                tools=[("search", False, 0.3), ("search", True, 0.7), ("book", False, 1.0)],
            ),
        )
        rollups.rollup_until_current()
        run_row = RunRollup.objects.get(project=self.project, period=Period.HOUR)
        assert run_row.bucket == T0
        assert (run_row.agent_name, run_row.status) == ("support-bot", "ok")
        user_row = UserRollup.objects.get(project=self.project, period=Period.HOUR)
        assert (user_row.user_id, user_row.agent_name, user_row.runs, user_row.cost_usd) == (
            "u-1",
            "support-bot",
            1,
            Decimal("0.035"),
        )
        assert (run_row.runs, run_row.failed_runs, run_row.llm_calls, run_row.tool_calls, run_row.tool_errors) == (
            1,
            0,
            3,
            3,
            1,
        )
        assert run_row.cost_usd == Decimal("0.035")
        assert run_row.unpriced_calls == 1
        assert (run_row.input_tokens, run_row.output_tokens) == (300, 30)
        by_model = {r.model: r for r in LlmCallRollup.objects.filter(project=self.project, period=Period.HOUR)}
        assert {m: (r.calls, r.cost_usd, r.unpriced_calls) for m, r in by_model.items()} == {
            "gpt-test": (2, Decimal("0.01"), 1),
            "claude-test": (1, Decimal("0.025"), 0),
        }
        assert sketches.Sketch.from_bytes(by_model["claude-test"].duration_sketch).quantile(0.5) == pytest.approx(
            2000, rel=0.01
        )
        tools = {
            r.tool_name: (r.calls, r.errors)
            for r in ToolCallRollup.objects.filter(project=self.project, period=Period.HOUR)
        }
        assert tools == {"search": (2, 1), "book": (1, 0)}
        day = RunRollup.objects.get(project=self.project, period=Period.DAY)
        assert (day.bucket, day.runs, day.cost_usd) == (datetime(2026, 11, 20, tzinfo=UTC), 1, Decimal("0.035"))
        assert not RollupDirty.objects.exists()

    def test_a_run_belongs_to_the_hour_of_its_first_span_even_when_it_ends_in_the_next(self):
        ingest(
            self.project, agent_run(T0 + timedelta(minutes=59, seconds=59), seconds=30, calls=[("gpt-test", "0.5", 20)])
        )
        rollups.rollup_until_current()
        assert list(
            RunRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("bucket", "runs")
        ) == [(T0, 1)]
        assert list(
            LlmCallRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("bucket", "calls")
        ) == [(T0, 1)]

    def test_runs_either_side_of_midnight_fall_in_their_own_days(self):
        midnight = datetime(2026, 11, 21, tzinfo=UTC)
        ingest(self.project, agent_run(midnight - timedelta(seconds=1), calls=[("gpt-test", "1", 1)]))
        ingest(self.project, agent_run(midnight, calls=[("gpt-test", "2", 1)]))
        rollups.rollup_until_current()
        days = dict(RunRollup.objects.filter(project=self.project, period=Period.DAY).values_list("bucket", "cost_usd"))
        assert days == {midnight - timedelta(days=1): Decimal(1), midnight: Decimal(2)}
        hours = dict(
            RunRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("bucket", "cost_usd")
        )
        assert hours == {midnight - timedelta(hours=1): Decimal(1), midnight: Decimal(2)}

    def test_an_earlier_span_moves_the_run_to_its_hour_and_empties_the_old_one(self):
        trace, root = new_trace_id(), new_span_id()
        late_child = span(trace, parent=root, kind="llm", model="gpt-test", input_tokens=5, output_tokens=1, cost="0.2",
                          start=T0 + timedelta(hours=1, minutes=2))  # fmt: skip
        ingest(self.project, [late_child])
        rollups.rollup_until_current()
        assert list(
            RunRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("bucket", flat=True)
        ) == [T0 + timedelta(hours=1)]
        root_span = span(
            trace, span_id=root, kind="agent", name="bot", agent="bot", start=T0 + timedelta(minutes=50), seconds=900
        )
        ingest(self.project, [root_span])
        rollups.rollup_until_current()
        rows = list(
            RunRollup.objects.filter(project=self.project, period=Period.HOUR).values_list(
                "bucket", "agent_name", "cost_usd"
            )
        )
        assert rows == [(T0, "bot", Decimal("0.2"))]
        assert list(
            LlmCallRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("bucket", "agent_name")
        ) == [(T0, "bot")]
        assert hour_totals(self.project, RunRollup, "runs", period=Period.DAY) == {"runs": 1}

    def test_resent_spans_do_not_double_count(self):
        items = agent_run(T0, calls=[("gpt-test", "0.3", 1)], tools=[("search", True, 1)])
        ingest(self.project, items)
        rollups.rollup_until_current()
        before = snapshot(self.project)
        ingest(self.project, items)
        assert TraceDirty.objects.filter(project=self.project).exists(), "a re-sent span re-marks its trace"
        rollups.rollup_until_current()
        assert snapshot(self.project) == before

    def test_failed_runs_are_their_own_status_rows(self):
        ingest(self.project, agent_run(T0, failed=True))
        ingest(self.project, agent_run(T0 + timedelta(minutes=1)))
        rollups.rollup_until_current()
        rows = dict(
            RunRollup.objects.filter(project=self.project, period=Period.HOUR).values_list("status", "failed_runs")
        )
        assert rows == {"error": 1, "ok": 0}

    def test_a_delta_pass_interrupted_midway_changes_nothing_and_a_rerun_is_exact(self):
        ingest(self.project, agent_run(T0, calls=[("gpt-test", "1.5", 1)], tools=[("search", False, 1)]))
        rollups.rollup_until_current()
        before = snapshot(self.project)
        ingest(
            self.project,
            agent_run(T0 + timedelta(minutes=10), calls=[("gpt-test", "2.25", 1)], tools=[("search", True, 1)]),
        )
        with connection.execute_wrapper(die_on_tool_rows_update), pytest.raises(rollups.RollupFailed):
            rollups.rollup_pending()
        assert snapshot(self.project) == before, "the batch's writes were rolled back"
        assert TraceDirty.objects.filter(project=self.project).count() == 1, "its trace stays marked for the next pass"
        rollups.rollup_until_current()
        assert hour_totals(self.project, RunRollup, "runs", "cost_usd", "tool_errors") == {
            "runs": 2,
            "cost_usd": Decimal("3.75"),
            "tool_errors": 1,
        }
        assert hour_totals(self.project, ToolCallRollup, "calls", "errors", period=Period.DAY) == {
            "calls": 2,
            "errors": 1,
        }

    def test_a_claimed_repair_waits_until_its_claim_expires(self):
        ingest(self.project, agent_run(T0))
        rollups.rollup_until_current()
        before = snapshot(self.project)
        RunRollup.objects.all().delete()  # rows lost: the hour is marked for repair
        rollups.mark_dirty(self.project, Mark.HOUR, [T0])
        RollupDirty.objects.update(claimed_at=timezone.now())  # a worker is on it
        assert rollups.rollup_pending() == 0
        assert not RunRollup.objects.exists()
        RollupDirty.objects.update(claimed_at=timezone.now() - rollups.CLAIM_TIMEOUT - timedelta(seconds=1))  # it died
        assert rollups.rollup_pending() == 2  # the hour, then its day
        assert snapshot(self.project) == before

    def test_a_change_committed_while_its_trace_is_applied_keeps_the_trace_marked(self):
        items = agent_run(T0, calls=[("gpt-test", "0.5", 1)])
        ingest(self.project, items)
        trace_id = items[0]["trace_id"] if isinstance(items[0], dict) else TraceDirty.objects.get().trace_id

        def remark_before_the_marks_are_deleted(execute, sql, params, many, context):
            if sql.startswith('DELETE FROM "aggregates_tracedirty"'):  # intake re-marks it just now
                TraceDirty.objects.filter(trace_id=trace_id).update(token="a-later-change")
            return execute(sql, params, many, context)

        with connection.execute_wrapper(remark_before_the_marks_are_deleted):
            assert deltas.apply_batch(self.project) == 1
        assert TraceDirty.objects.filter(trace_id=trace_id).exists()
        before = snapshot(self.project)
        assert deltas.apply_batch(self.project) == 1  # applied again: nothing changed, nothing counted twice
        assert not TraceDirty.objects.exists()
        assert snapshot(self.project) == before
        assert hour_totals(self.project, RunRollup, "runs", "cost_usd") == {"runs": 1, "cost_usd": Decimal("0.5")}

    def test_rebuild_gives_the_rows_of_the_incremental_path_and_drops_stale_ones(self):
        for minutes in (0, 70, 130, 24 * 60 + 5):
            ingest(self.project, agent_run(T0 + timedelta(minutes=minutes), calls=[("gpt-test", "0.1", 2), ("o-test", None, 3)],
                                           tools=[("search", minutes % 2 == 0, 1)]))  # fmt: skip
        rollups.rollup_until_current()
        incremental = snapshot(self.project)
        RunRollup.objects.create(project=self.project, period=Period.HOUR, bucket=T0 - timedelta(hours=5), status="ok", runs=99,
                                 duration_sketch=b"")  # fmt: skip
        call_command("rollup", "--rebuild", verbosity=0)
        assert snapshot(self.project) == incremental
        call_command("rollup", "--rebuild", "--since", "2026-11-21", verbosity=0)
        assert snapshot(self.project) == incremental

    def test_day_rows_add_up_their_hours(self):
        for minutes in (0, 61, 125, 200):
            ingest(
                self.project,
                agent_run(T0 + timedelta(minutes=minutes), calls=[("gpt-test", "0.125", minutes / 10 + 0.1)]),
            )
        rollups.rollup_until_current()
        fields = ("runs", "llm_calls", "cost_usd", "input_tokens")
        assert hour_totals(self.project, RunRollup, *fields) == hour_totals(
            self.project, RunRollup, *fields, period=Period.DAY
        )
        assert sketch_count(self.project, LlmCallRollup) == sketch_count(self.project, LlmCallRollup, Period.DAY) == 4

    def test_the_rollup_command_brings_everything_current(self):
        ingest(self.project, agent_run(T0))
        call_command("rollup", verbosity=0)
        assert not RollupDirty.objects.exists() and not TraceDirty.objects.exists()
        assert RunRollup.objects.filter(project=self.project).count() == 2  # the hour and its day


class RetentionTests(TestCase):
    def setUp(self):
        self.project, _ = make_project()

    def keep_days(self, days):
        self.project.retention_days = days
        self.project.save()

    def test_old_traces_go_in_batches_and_their_rollups_stay(self):
        now = timezone.now()
        old = [agent_run(now - timedelta(days=10, minutes=m), calls=[("gpt-test", "1", 1)]) for m in range(3)]
        for items in old:
            ingest(self.project, items)
        ingest(self.project, agent_run(now - timedelta(days=1), calls=[("gpt-test", "2", 1)]))
        rollups.rollup_until_current()
        before = snapshot(self.project)
        self.keep_days(7)
        assert retention.retention_enforce(batch_traces=2) == 3
        assert Run.objects.filter(project=self.project).count() == 1
        assert Span.objects.filter(project=self.project).count() == 2
        rollups.rollup_until_current()
        call_command("rollup", "--rebuild", verbosity=0)
        assert snapshot(self.project) == before, "rollups outlive the spans, even through a rebuild"
        assert hour_totals(self.project, RunRollup, "runs", "cost_usd") == {"runs": 4, "cost_usd": Decimal(5)}

    def test_a_late_span_for_an_expired_hour_leaves_its_rollups_alone(self):
        self.keep_days(7)
        old = timezone.now() - timedelta(days=10)
        ingest(self.project, agent_run(old, calls=[("gpt-test", "1", 1)]))
        ingest(
            self.project,
            [span(new_trace_id(), kind="llm", model="gpt-test", cost="5", input_tokens=1, output_tokens=1, start=old)],
        )
        assert not RollupDirty.objects.filter(period=Mark.SCORES).exists(), "hours past retention are not marked"
        rollups.rollup_until_current()
        assert rollups.rollup_hour(self.project, old)
        assert not RunRollup.objects.exists()


class BackgroundWiringTests(TestCase):
    def test_beat_recomputes_rollups_every_minute_and_enforces_retention_hourly(self):
        schedule = celery_app.conf.beat_schedule
        assert schedule["rollup-pending"]["task"] == "aggregates.tasks.rollup_pending"
        assert schedule["rollup-pending"]["schedule"] == 60.0
        assert schedule["enforce-retention"]["task"] == "ingest.tasks.enforce_retention"
        assert schedule["enforce-retention"]["schedule"] == 3600.0
        assert schedule["prune-minute-rollups"]["task"] == "aggregates.tasks.prune_minutes"
        assert set(celery_app.tasks) >= {
            "aggregates.tasks.rollup_pending",
            "aggregates.tasks.apply_deltas",
            "ingest.tasks.enforce_retention",
        }


@unittest.skipUnless(connection.vendor == "postgresql", "advisory locks are PostgreSQL's")
class AdvisoryLockTests(TransactionTestCase):
    def test_a_project_another_worker_is_writing_is_left_marked_for_later(self):
        import psycopg

        project, _ = make_project()
        ingest(project, agent_run(T0))
        settings_dict = connection.settings_dict
        other = psycopg.connect(
            dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"],
            port=settings_dict["PORT"] or 5432, password=settings_dict["PASSWORD"] or None, autocommit=True,
        )  # fmt: skip
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [deltas.lock_key(project.pk)])
            assert rollups.rollup_hour(project, T0) is False
            assert deltas.apply_batch(project) is None
            assert not RunRollup.objects.exists()
            assert TraceDirty.objects.filter(project=project).count() == 1
        finally:
            other.close()
        assert deltas.apply_batch(project) == 1
        assert deltas.apply_batch(project) == 0, "applied once"
        assert RunRollup.objects.filter(project=project, period=Period.HOUR).get().runs == 1


# --- Property: any arrival order gives the rows of a full rebuild and the spans' totals -----

# Runs cross hours and midnight, two days ago: recent enough for minute rows.
BASE = datetime.combine(timezone.now().date(), datetime.min.time(), UTC) - timedelta(days=1, minutes=80)

child_spans = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["llm", "llm", "tool", "chain"]),
            "offset": st.integers(min_value=0, max_value=5400),  # seconds after the root starts
            "seconds": st.sampled_from([0, 0.004, 0.8, 3, 45]),
            "model": st.sampled_from(["test-model-a", "test-model-b"]),
            "cost": st.one_of(st.none(), st.integers(min_value=0, max_value=10**6).map(lambda c: Decimal(c) / 10**6)),
            "tokens": st.integers(min_value=0, max_value=5000),
            "error": st.booleans(),
        }
    ),
    max_size=4,
)
traces = st.lists(
    st.fixed_dictionaries(
        {
            "agent": st.sampled_from(["alpha", "beta"]),
            "user": st.sampled_from(["u1", "u2", ""]),
            "start": st.integers(min_value=0, max_value=180),  # minutes after BASE
            "failed": st.booleans(),
            "children": child_spans,
        }
    ),
    min_size=1,
    max_size=4,
)


def build(generated):
    """The spans, plus the totals expected from them directly."""
    items, expected = (
        [],
        {"runs": 0, "cost": Decimal(0), "llm_calls": 0, "tool_calls": 0, "tool_errors": 0, "input_tokens": 0},
    )
    runs_per_hour = {}
    for t in generated:
        trace, root = new_trace_id(), new_span_id()
        start = BASE + timedelta(minutes=t["start"])
        items.append(span(trace, span_id=root, kind="agent", name=t["agent"], agent=t["agent"], user=t["user"], start=start,
                          seconds=60, error=t["failed"]))  # fmt: skip
        first = start
        for c in t["children"]:
            child_start = start + timedelta(seconds=c["offset"] - 300)  # some start before their root
            first = min(first, child_start)
            if c["kind"] == "llm":
                items.append(span(trace, parent=root, kind="llm", model=c["model"], provider="test", start=child_start,
                                  seconds=c["seconds"], input_tokens=c["tokens"], output_tokens=1, cost=c["cost"],
                                  error=c["error"]))  # fmt: skip
                expected["llm_calls"] += 1
                expected["cost"] += c["cost"] or 0
                expected["input_tokens"] += c["tokens"]
            elif c["kind"] == "tool":
                items.append(span(trace, parent=root, kind="tool", tool="search", start=child_start, seconds=c["seconds"],
                                  error=c["error"]))  # fmt: skip
                expected["tool_calls"] += 1
                expected["tool_errors"] += c["error"]
            else:
                items.append(span(trace, parent=root, kind="chain", start=child_start, seconds=c["seconds"]))
        expected["runs"] += 1
        hour = first.replace(minute=0, second=0, microsecond=0)
        runs_per_hour[hour] = runs_per_hour.get(hour, 0) + 1
    return items, expected, runs_per_hour


class IncrementalEqualsRebuildTests(HypothesisTestCase):
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(traces, st.data())
    def test_any_batches_order_and_late_arrivals_give_the_rebuild_and_the_span_totals(self, generated, data):
        project, _ = make_project()
        items, expected, runs_per_hour = build(generated)
        order = data.draw(st.permutations(items), label="arrival order")
        resent = data.draw(st.lists(st.sampled_from(items), max_size=3), label="re-sent spans")
        stream = order + resent
        cuts = sorted(
            data.draw(st.sets(st.integers(min_value=1, max_value=max(1, len(stream) - 1)), max_size=4), label="cuts")
        )
        batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) if stream[a:b]]
        for batch in batches:
            ingest(project, batch)
            if data.draw(st.booleans(), label="rollup pass before the next batch"):
                rollups.rollup_pending()
        rollups.rollup_until_current()
        assert not RollupDirty.objects.filter(project=project).exists()
        assert not TraceDirty.objects.filter(project=project).exists()
        incremental = snapshot(project)

        for period in (Period.MINUTE, Period.HOUR, Period.DAY):
            runs = hour_totals(project, RunRollup, "runs", "cost_usd", "llm_calls", "tool_calls", "tool_errors", "input_tokens",
                               period=period)  # fmt: skip
            assert runs == {
                "runs": expected["runs"],
                "cost_usd": expected["cost"],
                "llm_calls": expected["llm_calls"],
                "tool_calls": expected["tool_calls"],
                "tool_errors": expected["tool_errors"],
                "input_tokens": expected["input_tokens"],
            }
            for model in (UserRollup, UserTotalRollup):
                users = hour_totals(project, model, "runs", "cost_usd", "tool_errors", period=period)
                assert users == {
                    "runs": expected["runs"],
                    "cost_usd": expected["cost"],
                    "tool_errors": expected["tool_errors"],
                }
                assert sketch_count(project, model, period) == expected["runs"]
            for model in (LlmCallRollup, ModelRollup):
                llm = hour_totals(project, model, "calls", "cost_usd", "input_tokens", period=period)
                assert llm == {
                    "calls": expected["llm_calls"],
                    "cost_usd": expected["cost"],
                    "input_tokens": expected["input_tokens"],
                }
                assert sketch_count(project, model, period) == expected["llm_calls"]
            for model in (ToolCallRollup, ToolRollup):
                tools = hour_totals(project, model, "calls", "errors", period=period)
                assert tools == {"calls": expected["tool_calls"], "errors": expected["tool_errors"]}
                assert sketch_count(project, model, period) == expected["tool_calls"]
            assert sketch_count(project, RunRollup, period) == expected["runs"]
        by_hour = dict(
            RunRollup.objects.filter(project=project, period=Period.HOUR)
            .values("bucket")
            .annotate(n=Sum("runs"))
            .values_list("bucket", "n")
        )
        assert by_hour == runs_per_hour
        assert Run.objects.filter(project=project).aggregate(n=Count("pk"))["n"] == expected["runs"]

        rollups.rebuild(project=project)
        assert snapshot(project) == incremental


class UpgradeTests(TransactionTestCase):
    def test_upgrading_to_the_per_user_table_fills_it_from_the_next_rollup_pass(self):
        project, _ = make_project()
        ingest(project, agent_run(T0, user="ann", calls=[("gpt-test", "0.5", 1)]))
        ingest(project, agent_run(T0 + timedelta(hours=3), user="ann", agent="writer", calls=[("gpt-test", "0.25", 1)]))
        rollups.rollup_until_current()
        call_command("migrate", "ingest", "0008", verbosity=0)  # the release before: no per-user table
        call_command("migrate", verbosity=0)
        assert set(RollupDirty.objects.filter(project=project).values_list("period", "bucket")) == {
            (Period.HOUR, T0),
            (Period.HOUR, T0 + timedelta(hours=3)),
        }
        assert not UserTotalRollup.objects.exists()
        rollups.rollup_until_current()
        day = UserTotalRollup.objects.get(project=project, period=Period.DAY)
        assert (day.user_id, day.runs, day.cost_usd) == ("ann", 2, Decimal("0.75"))
