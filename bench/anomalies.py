"""Anomaly detection benchmark: one detection pass over 500 agents x 6 metrics x 8 days of hourly
rollups (the target is under 10 s).

Run by hand (not part of the test suite). It writes the hour rollup rows straight into the
database (RunRollup per agent, ToolCallRollup per agent's tool: 2 x agents x 192 rows), with
daily seasonality, noise and a cost spike in the last complete hour for every 50th agent, then
times `budgets.anomalies.services.detect_anomalies` (default rules, created on the first pass).

    .venv/bin/python bench/anomalies.py                       # SQLite under a temp dir
    .venv/bin/python bench/anomalies.py --agents 100 --database-url postgres://postgres@127.0.0.1:5432/agentledger_bench
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rollup import setup_django  # bench/ is not a package

HOURS = 8 * 24
SPIKE_EVERY = 50


def load(agents: int, now: datetime) -> object:
    import numpy as np

    from aggregates.models import Period, RunRollup, ToolCallRollup
    from aggregates.sketches import Sketch
    from ingest import timeranges
    from tenancy import services as tenancy_services

    project, _ = tenancy_services.project_create(
        "Anomaly bench", org_slug=f"bench-{int(time.time())}", timezone_name="UTC"
    )
    rng = np.random.default_rng(11)
    last = timeranges.floor_hour(now) - timedelta(hours=1)
    start = last - (HOURS - 1) * timedelta(hours=1)
    runs, tools = [], []
    for a in range(agents):
        for i in range(HOURS):
            bucket = start + i * timedelta(hours=1)
            season = 1 + 0.6 * math.sin(2 * math.pi * (bucket.hour - 8) / 24)
            n = max(1, int(30 * season + rng.normal(0, 3)))
            spike = 10 if (a % SPIKE_EVERY == 0 and i == HOURS - 1) else 1
            cost = 1.5 * season * (1 + rng.normal(0, 0.05)) * spike
            base = {"project": project, "period": Period.HOUR, "bucket": bucket, "agent_name": f"agent-{a}"}
            runs.append(RunRollup(**base, status="ok", runs=n, failed_runs=int(rng.binomial(n, 0.03)),
                                  input_tokens=1000 * n, output_tokens=400 * n, cost_usd=Decimal(f"{cost:.6f}"),
                                  duration_sketch=Sketch.of(3000 * (1 + rng.normal(0, 0.1, size=8))).to_bytes()))  # fmt: skip
            calls = 3 * n
            tools.append(ToolCallRollup(**base, tool_name=f"tool-{a}", calls=calls,
                                        errors=int(rng.binomial(calls, 0.02)), duration_sketch=b"\0\0\0\0"))  # fmt: skip
    RunRollup.objects.bulk_create(runs, batch_size=2000)
    ToolCallRollup.objects.bulk_create(tools, batch_size=2000)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each pass")
    args = parser.parse_args()
    setup_django(args.database_url)
    from budgets.anomalies import services as anomaly_services
    from budgets.models import Alert

    now = datetime.now(UTC)
    started = time.perf_counter()
    project = load(args.agents, now)
    print(f"loaded {2 * args.agents * HOURS:,} hour rollup rows in {time.perf_counter() - started:.1f} s")
    for label in ("first pass (creates default rules)", "second pass (steady state)"):
        started = time.perf_counter()
        if args.profile:
            import cProfile

            cProfile.runctx("anomaly_services.detect_anomalies(project, now=now)", globals(), locals(), sort="cumtime")
            created = 0
        else:
            created = anomaly_services.detect_anomalies(project, now=now)  # type: ignore[arg-type]
        print(f"{label}: {time.perf_counter() - started:.2f} s, {created} new alerts")
    from budgets.anomalies import series as anomaly_series
    from ingest import timeranges

    until = timeranges.floor_hour(now)
    started = time.perf_counter()
    anomaly_series.hourly_series(project, until - timedelta(days=8), until)  # type: ignore[arg-type]
    print(f"  of which reading the series: {time.perf_counter() - started:.2f} s")
    by_metric = sorted(Alert.objects.filter(anomaly_rule__project=project).values_list("metric", flat=True))
    print(f"alerts: {len(by_metric)} ({', '.join(sorted(set(by_metric)))}); "
          f"expected ~{math.ceil(args.agents / SPIKE_EVERY)} cost spikes")  # fmt: skip


if __name__ == "__main__":
    main()
