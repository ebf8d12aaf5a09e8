"""What a monitor reads: each metric family per scope value over [since, until), from spans
stored through real intake and from scores."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.test import TestCase

from aggregates import rollups
from aggregates.sketches import Sketch
from budgets.monitors.metrics import Measured, window_values
from budgets.monitors.models import Monitor
from scores.models import Score
from tests.factories import make_project
from tests.ingest.spans import agent_run, ingest, new_span_id, new_trace_id, span

# Two days ago at 15:00 UTC: recent enough for minute rows (AGENTLEDGER_MINUTE_RETENTION_DAYS).
UNTIL = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(15, 0), UTC)
SINCE = UNTIL - timedelta(minutes=10)
AT = UNTIL - timedelta(minutes=5)


class MetricTests(TestCase):
    def setUp(self) -> None:
        self.project, _ = make_project()

    def read(self, metric: str, scope: str = "project", **kwargs: Any) -> dict[str, Measured]:
        monitor = Monitor(project=self.project, name="m", metric=metric, scope=scope, critical=Decimal(1), **kwargs)
        rollups.rollup_until_current()  # what the delta pass does within seconds of intake
        return window_values(monitor, SINCE, UNTIL)

    def test_run_metrics_count_the_runs_that_started_in_the_window(self):
        ingest(self.project, agent_run(AT, agent="a", seconds=2, calls=[("gpt-test", "0.02", 1.0)],
                                       tools=[("search", False, 0.5)]))  # fmt: skip
        ingest(self.project, agent_run(AT, agent="a", seconds=4, failed=True, calls=[("gpt-test", "0.04", 1.0)]))
        ingest(self.project, agent_run(AT, agent="b", seconds=8, user="u-2"))
        ingest(self.project, agent_run(UNTIL, agent="a"))  # the window's end is not in it
        ingest(self.project, agent_run(SINCE - timedelta(seconds=1), agent="a"))
        assert self.read("runs", "agent") == {"a": Measured(Decimal(2), 2), "b": Measured(Decimal(1), 1)}
        assert self.read("failed_runs") == {"": Measured(Decimal(1), 3)}
        assert self.read("failure_rate", "agent")["a"] == Measured(Decimal("0.5"), 2)
        assert self.read("cost", "agent")["a"] == Measured(Decimal("0.06"), 2)
        assert self.read("cost_per_run", "agent")["a"] == Measured(Decimal("0.03"), 2)
        assert self.read("tokens_per_run")[""] == Measured(Decimal(110), 3)
        assert self.read("tool_calls_per_run", "agent")["a"] == Measured(Decimal("0.5"), 2)
        assert set(self.read("runs", "user")) == {"u-1", "u-2"}
        assert self.read("runs", "user", scope_value="u-2") == {"u-2": Measured(Decimal(1), 1)}
        prefix = self.project.api_keys.get().prefix
        assert self.read("runs", "api_key") == {prefix: Measured(Decimal(3), 3)}

    def test_latency_percentiles_are_the_dashboards_sketch_percentiles(self):
        durations = [1.0, 2.0, 3.0, 4.0, 30.0]
        for seconds in durations:
            ingest(self.project, agent_run(AT, seconds=seconds))
        ms = [s * 1000 for s in durations]
        for metric, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
            expected = Sketch.of(ms).quantile(q)
            assert expected is not None
            measured = self.read(metric)[""]
            assert measured.volume == 5 and measured.value is not None
            assert abs(float(measured.value) - expected) < 0.001

    def llm_run(self, calls: list[tuple[str, str, str, float]]) -> None:
        """A run of LLM calls (provider, model, error type or "", seconds) under one agent span."""
        trace, root = new_trace_id(), new_span_id()
        items = [span(trace, span_id=root, kind="agent", agent="a", start=AT, seconds=20)]
        items += [
            span(trace, parent=root, kind="llm", provider=provider, model=model, error_type=error, start=AT,
                 seconds=seconds, input_tokens=10, output_tokens=1, cost="0.01")
            for provider, model, error, seconds in calls
        ]  # fmt: skip
        ingest(self.project, items)

    def test_llm_error_rate_counts_the_providers_failures_and_failure_rate_every_one(self):
        self.llm_run([("openai", "gpt-4o", "", 1.0), ("openai", "gpt-4o", "openai.RateLimitError", 3.0)])
        self.llm_run([("anthropic", "claude", "", 2.0), ("anthropic", "claude", "BadRequestError", 2.0)])
        assert self.read("llm_error_rate", "provider") == {
            "openai": Measured(Decimal("0.5"), 2),
            "anthropic": Measured(Decimal(0), 2),  # a refused request is the caller's failure
        }
        assert self.read("llm_failure_rate", "provider") == {
            "openai": Measured(Decimal("0.5"), 2),
            "anthropic": Measured(Decimal("0.5"), 2),
        }
        assert self.read("llm_error_rate")[""] == Measured(Decimal("0.25"), 4)
        assert self.read("llm_error_rate", "agent") == {"a": Measured(Decimal("0.25"), 4)}
        assert self.read("llm_failure_rate", "model", scope_value="claude") == {"claude": Measured(Decimal("0.5"), 2)}
        latency = self.read("llm_latency_p95", "model")
        assert latency["claude"].volume == 2 and abs(float(latency["claude"].value or 0) - 2000) < 20
        assert self.read("cost", "model") == {
            "gpt-4o": Measured(Decimal("0.02"), 2),
            "claude": Measured(Decimal("0.02"), 2),
        }

    def test_tool_error_rate_per_tool(self):
        ingest(
            self.project, agent_run(AT, tools=[("search", True, 1.0), ("search", False, 1.0), ("fetch", False, 1.0)])
        )
        assert self.read("tool_error_rate", "tool") == {
            "search": Measured(Decimal("0.5"), 2),
            "fetch": Measured(Decimal(0), 1),
        }
        assert self.read("tool_error_rate")[""] == Measured(Decimal("0.333333"), 3)

    def test_score_pass_rate_and_mean_of_the_scores_recorded_in_the_window(self):
        trace_a = agent_run(AT, agent="a")
        ingest(self.project, trace_a)
        trace_id = trace_a[0][0].trace_id
        for author, value, data_type in (("x", 1.0, "boolean"), ("y", 0.0, "boolean"), ("z", 0.5, "numeric")):
            Score.objects.create(project=self.project, trace_id=trace_id, name="grounded", data_type=data_type,
                                 value=value, source="api", author=author)  # fmt: skip
        Score.objects.update(created_at=AT)
        assert self.read("score_pass_rate", "agent", score_name="grounded") == {"a": Measured(Decimal("0.5"), 2)}
        assert self.read("score_mean", score_name="grounded") == {"": Measured(Decimal("0.5"), 3)}
        assert self.read("score_mean", score_name="other") == {}
