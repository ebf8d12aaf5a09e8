"""Rollup benchmark: full rebuild throughput, catch-up after 10k new spans, summary API latency.

Run by hand (not part of the test suite). It loads N spans of realistic agent runs (1 agent span,
4 LLM calls, 3 tool calls, 2 chain steps per run) spread over the last --days days straight into
the database with bulk_create, then measures:

  1. a full `rollup --rebuild` of the project (spans per second),
  2. the time to bring rollups current after 10k new spans arrive through ingest_spans,
  3. p50/p95 of GET /api/v1/metrics/summary for one agent yesterday, and for group_by=model
     over 30 days, and by user and by tool over 30 days (in-process Django test client, key auth
     included).

    .venv/bin/python bench/rollup.py                                   # SQLite under a temp dir, 20k spans
    .venv/bin/python bench/rollup.py --spans 1000000 --database-url postgres://postgres@127.0.0.1:5432/agentledger_bench
    options: --days 30 --agents 20 --users 200 --requests 50 --keep (leave the project in the database)

Loading 10M spans takes over half an hour; `--load-only --keep` loads and stops, and
`--project PK` measures a kept project again (after a change to the rollups) without reloading,
and `--skip-rebuild` leaves out the rebuild when its rollups are current.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPANS_PER_RUN = 10
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3", "openai"), ("claude-sonnet-4", "anthropic"),
          ("claude-haiku-3.5", "anthropic"), ("gemini-2.5-flash", "google")]  # fmt: skip
TOOLS = ["search", "lookup_order", "book_table", "send_email", "calculator", "weather", "sql", "browse"]


def setup_django(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("AGENTLEDGER_HASHED_STATIC", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.setdefault("AGENTLEDGER_VAR_DIR", tempfile.mkdtemp(prefix="agentledger-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def hex_id(rng: random.Random, size: int) -> str:
    return rng.randbytes(size).hex()


def build_run(rng, project, api_key, start, agents, users):
    """One run's Span rows and its Run row, with the totals recompute_runs would store."""
    from ingest.models import Run, Span

    trace, root = hex_id(rng, 16), hex_id(rng, 8)
    agent, user = rng.choice(agents), rng.choice(users)
    spans, t, cost, tokens_in, tokens_out, tool_errors = [], start, Decimal(0), 0, 0, 0
    common = {"project": project, "api_key": api_key, "trace_id": trace, "agent_name": agent, "user_id": user}
    for _ in range(4):
        model, provider = rng.choice(MODELS)
        seconds = rng.lognormvariate(0, 0.8)
        tin, tout = rng.randint(200, 4000), rng.randint(20, 800)
        price = Decimal(tin * 3 + tout * 12) / Decimal(1_000_000)
        failed = rng.random() < 0.03
        spans.append(Span(**common, span_id=hex_id(rng, 8), parent_span_id=root, name=f"chat {model}", kind="llm",
                          start_time=t, end_time=t + timedelta(seconds=seconds), duration_ms=seconds * 1000,
                          is_error=failed, provider=provider, request_model=model, response_model=model,
                          input_tokens=tin, output_tokens=tout, cost_usd=price, cost_source="computed",
                          counts_usage=True))  # fmt: skip
        t += timedelta(seconds=seconds)
        cost += price
        tokens_in += tin
        tokens_out += tout
    for _ in range(3):
        seconds = rng.lognormvariate(-1.5, 1.2)
        failed = rng.random() < 0.08
        tool_errors += failed
        tool = rng.choice(TOOLS)
        spans.append(Span(**common, span_id=hex_id(rng, 8), parent_span_id=root, name=tool, kind="tool", tool_name=tool,
                          start_time=t, end_time=t + timedelta(seconds=seconds), duration_ms=seconds * 1000,
                          is_error=failed))  # fmt: skip
        t += timedelta(seconds=seconds)
    spans.extend(
        Span(**common, span_id=hex_id(rng, 8), parent_span_id=root, name=f"step {step}", kind="chain",
             start_time=start, end_time=t, duration_ms=(t - start).total_seconds() * 1000)
        for step in range(2)
    )  # fmt: skip
    failed = rng.random() < 0.05
    duration = (t - start).total_seconds() * 1000
    spans.append(Span(**common, span_id=root, name=agent, kind="agent", start_time=start, end_time=t,
                      duration_ms=duration, is_error=failed))  # fmt: skip
    run = Run(project=project, api_key=api_key, trace_id=trace, name=agent, agent_name=agent, user_id=user,
              root_span_id=root, has_root=True, status="error" if failed else "ok", start_time=start, end_time=t,
              duration_ms=duration, span_count=len(spans), llm_calls=4, failed_llm_calls=0, tool_calls=3,
              tool_errors=tool_errors, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost)  # fmt: skip
    return spans, run


def load(project, api_key, n_spans, days, agents, users, rng) -> float:
    from django.db import connection

    from ingest.models import Run, Span

    now = datetime.now(UTC)
    started = time.perf_counter()
    spans, runs = [], []
    for i in range(n_spans // SPANS_PER_RUN):
        start = now - timedelta(seconds=rng.uniform(3600, days * 86400))
        run_spans, run = build_run(rng, project, api_key, start, agents, users)
        spans += run_spans
        runs.append(run)
        if len(spans) >= 20_000 or i == n_spans // SPANS_PER_RUN - 1:
            if connection.vendor == "postgresql":
                copy_objects(Span, spans)
                copy_objects(Run, runs)
            else:
                Span.objects.bulk_create(spans, batch_size=2000)
                Run.objects.bulk_create(runs, batch_size=2000)
            spans, runs = [], []
    return time.perf_counter() - started


def copy_objects(model, objs) -> None:
    """Insert unsaved instances with PostgreSQL's COPY: bulk_create's SQL building made loading
    10M spans Python-bound at ~2k rows/s; COPY of the same instances is ~20x faster."""
    from ingest import copying

    now = datetime.now(UTC)
    stamped = [
        f.attname
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for obj in objs:
        for name in stamped:
            obj.__dict__[name] = now
    copying.copy_instances(model, objs)


def new_spans(rng, n_spans, agents, users):
    """n_spans as intake would hand them to ingest_spans, started within the last two hours."""
    from ingest.records import RawSpan, SpanFields

    now_ns = time.time_ns()
    items = []
    for _ in range(n_spans // SPANS_PER_RUN):
        trace, root = hex_id(rng, 16), hex_id(rng, 8)
        agent, user = rng.choice(agents), rng.choice(users)
        t = now_ns - int(rng.uniform(0, 7200) * 1e9)
        start = t
        children = []
        for i in range(SPANS_PER_RUN - 1):
            model, provider = rng.choice(MODELS)
            seconds_ns = int(rng.lognormvariate(0, 0.8) * 1e9)
            kind = "llm" if i < 4 else ("tool" if i < 7 else "chain")
            raw = RawSpan(trace, hex_id(rng, 8), root, f"{kind} {i}", 0, t, t + seconds_ns, {})
            fields = SpanFields(kind=kind, provider=provider if kind == "llm" else "",
                                request_model=model if kind == "llm" else "", tool_name=rng.choice(TOOLS) if kind == "tool" else "",
                                input_tokens=1000 if kind == "llm" else None, output_tokens=100 if kind == "llm" else None,
                                reported_cost=Decimal("0.0042") if kind == "llm" else None, agent_name=agent, user_id=user)  # fmt: skip
            children.append((raw, fields))
            t += seconds_ns
        root_span = (
            RawSpan(trace, root, "", agent, 0, start, t, {}),
            SpanFields(kind="agent", agent_name=agent, user_id=user),
        )
        items += [root_span, *children]
    return items


def remove_key_data(project, api_key) -> None:
    """Delete what was ingested with this key, bring the runs it touched back, roll up again."""
    from aggregates import deltas, rollups
    from ingest import services
    from ingest.models import Run, Span

    spans = Span.objects.filter(project=project, api_key=api_key)
    traces = sorted(set(spans.values_list("trace_id", flat=True)))
    spans.delete()
    Run.objects.filter(project=project, trace_id__in=traces).delete()
    services.recompute_runs(project, traces)  # traces that also had spans of other keys
    deltas.mark_traces(project, traces)  # their shares leave the rollups (or shrink)
    rollups.rollup_until_current()
    api_key.delete()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_requests(client, path: str, params: dict[str, str], n: int) -> tuple[float, float]:
    for _ in range(3):
        response = client.get(path, params)
        assert response.status_code == 200, response.content
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--new-spans", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", action="store_true", help="leave the bench project and its rows in the database")
    parser.add_argument("--load-only", action="store_true", help="load the spans and stop (use with --keep)")
    parser.add_argument("--project", type=int, help="measure this kept project instead of loading a new one")
    parser.add_argument("--skip-rebuild", action="store_true", help="the kept project's rollups are current")
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.db import connection
    from django.test import Client

    from aggregates import deltas, rollups
    from ingest import services
    from ingest.models import Run, Span
    from tenancy import services as tenancy_services
    from tenancy.models import Project

    rng = random.Random(time.time_ns() if args.project else 42)  # new spans must not reuse loaded trace ids
    if args.project:
        project = Project.objects.get(pk=args.project)
        new_key = tenancy_services.api_key_create(project, name=f"bench {datetime.now(UTC):%H%M%S}")
    else:
        project, new_key = tenancy_services.project_create(f"bench {datetime.now(UTC):%Y%m%d-%H%M%S}", org_slug="bench")
    agents = [f"agent-{i:02d}" for i in range(args.agents)]
    users = [f"user-{i:04d}" for i in range(args.users)]
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; project {project.pk}")
    try:
        if not args.project:
            seconds = load(project, new_key.api_key, args.spans, args.days, agents, users, rng)
            print(f"loaded {Span.objects.filter(project=project).count():,} spans in {seconds:.1f}s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum would have done after the load
                cursor.execute("ANALYZE")
        if args.load_only:
            return
        if not args.project:  # the load bypassed intake: mark its runs as intake would have
            total = Span.objects.filter(project=project).count()
            deltas.mark_traces(project, Run.objects.filter(project=project).values_list("trace_id", flat=True))
            started = time.perf_counter()
            applied = deltas.apply_pending()
            seconds = time.perf_counter() - started
            print(f"delta pass over the load: {applied:,} runs in {seconds:.1f}s = {total / seconds:,.0f} spans/s")
        if not args.skip_rebuild:
            total = Span.objects.filter(project=project).count()
            started = time.perf_counter()
            hours = rollups.rebuild(project=project)
            seconds = time.perf_counter() - started
            rows = {m.__name__: m.objects.filter(project=project).count() for m in rollups.TABLES}
            print(f"full rebuild: {hours} hours in {seconds:.1f}s = {total / seconds:,.0f} spans/s; rows {rows}")

        items = new_spans(rng, args.new_spans, agents, users)
        for start in range(0, len(items), 500):
            services.ingest_spans(new_key.api_key, items[start : start + 500])
        started = time.perf_counter()
        buckets = rollups.rollup_until_current()
        print(f"catch-up after {len(items):,} new spans: {buckets} buckets in {time.perf_counter() - started:.2f}s")

        client = Client(HTTP_AUTHORIZATION=f"Bearer {new_key.raw_key}", HTTP_HOST="127.0.0.1")
        path = "/api/v1/metrics/summary"
        p50, p95 = time_requests(
            client, path, {"group_by": "agent", "agent": agents[3], "since": "yesterday"}, args.requests
        )
        print(f"summary one agent yesterday: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        for group in ("model", "user", "tool"):
            p50, p95 = time_requests(client, path, {"group_by": group, "since": "30d"}, args.requests)
            print(f"summary group_by={group} 30d: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    finally:
        if args.project:  # leave the kept project as it was loaded, so the next measure is comparable
            remove_key_data(project, new_key.api_key)
        elif not args.keep:
            for model in (Span, Run, *rollups.TABLES):
                model.objects.filter(project=project).delete()
            Project.objects.filter(pk=project.pk).delete()


if __name__ == "__main__":
    main()
