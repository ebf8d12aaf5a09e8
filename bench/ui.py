"""Dashboard benchmark: server time of the main pages on a big project.

Run by hand (not part of the test suite). It builds a bench project with N spans (realistic runs
of ~10 spans: agents, models, tools, users, sessions over 30 days) written straight into the
database in large batches (COPY on PostgreSQL), plus one 2,000-span run, and builds its rollups.
Then it times each page through Django's test client (server time: no network, no browser),
after a warm-up, and prints p50/p95 and the SQL queries of one request per page.

Targets: run detail of the 2,000-span run < 500 ms; runs list and overview < 200 ms at 1M spans.
A page that answers 404 (not written yet) is skipped with a note.

    .venv/bin/python bench/ui.py --spans 50000                   # SQLite in var/bench-ui/
    .venv/bin/python bench/ui.py --reuse                         # time again, same data
    .venv/bin/python bench/ui.py --database-url postgres://postgres@127.0.0.1:5432/agentledger_bench
    options: --spans 1000000 --repeats 20 --days 30 --pages overview,runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORG, SLUG = "bench", "ui-bench"
BIG_TRACE = "beefbeefbeefbeefbeefbeefbeef2000"  # the 2,000-span run
BIG_STEPS = 400  # of an LLM call and 3 tool calls in a chain span: 2,001 spans with the root
AGENTS = ["support-bot", "research-agent", "sql-analyst", "code-reviewer", "triage-router", "billing-agent",
          "onboarding-guide", "sales-assistant", "incident-responder", "doc-writer"]  # fmt: skip
MODELS = [("gpt-4o", "openai", "2.50", "10.00"), ("gpt-4o-mini", "openai", "0.15", "0.60"),
          ("claude-sonnet-4", "anthropic", "3.00", "15.00"), ("claude-3-5-haiku", "anthropic", "0.80", "4.00"),
          ("gemini-2.0-flash", "gcp.gemini", "0.10", "0.40"), ("acme-llama-ft", "vllm", "", "")]  # fmt: skip
TOOLS = ["web_search", "fetch_url", "sql_query", "vector_search", "send_email", "lookup_order", "create_ticket",
         "calculator", "read_file", "run_tests"]  # fmt: skip
TOOL_ERROR_RATES = {"fetch_url": 0.15, "sql_query": 0.05}
USERS = [f"user-{i:04d}" for i in range(500)]
MODEL_WEIGHTS = [30, 35, 15, 10, 7, 3]
ZIPF_AGENTS = [1 / (i + 1) for i in range(len(AGENTS))]
ZIPF_USERS = [1 / (i + 1) ** 0.8 for i in range(len(USERS))]
QUESTION = "Where is my order? It was supposed to arrive yesterday and the tracking page shows nothing."
ANSWER = "Your order left the warehouse on Monday; the carrier shows delivery tomorrow before 18:00."


def setup_django(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("AGENTLEDGER_HASHED_STATIC", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.setdefault("AGENTLEDGER_VAR_DIR", "var/bench-ui")  # kept, so --reuse works
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic: pages need no files
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- building the project ------------------------------------------------------------------


class Builder:
    """Span and Run rows as intake would store them (totals as recompute_runs computes them),
    as plain dicts of column values: model instances and bulk_create cost ~0.5 ms a span."""

    def __init__(self, project, api_key, rng: random.Random):
        from ingest.models import Run, Span

        self.rng = rng
        self.span_defaults = {**defaults(Span), "project_id": project.pk, "api_key_id": api_key.pk}
        self.run_defaults = {**defaults(Run), "project_id": project.pk, "api_key_id": api_key.pk}
        self.spans: list[dict] = []
        self.runs: list[dict] = []
        self.clock = datetime.now(UTC)

    def hex(self, size: int) -> str:
        return self.rng.randbytes(size).hex()

    def run(self, start: datetime, *, trace_id: str = "", steps: int = 0) -> None:
        """One run: an agent root, LLM calls and tool calls (in `steps` chain steps for a long run)."""
        rng = self.rng
        trace_id = trace_id or self.hex(16)
        agent = rng.choices(AGENTS, weights=ZIPF_AGENTS)[0]
        user = rng.choices(USERS, weights=ZIPF_USERS)[0]
        session = f"sess-{self.hex(6)}" if rng.random() < 0.6 else ""
        root_id = self.hex(8)
        first = len(self.spans)
        self.clock = start
        totals = {"llm_calls": 0, "failed_llm_calls": 0, "tool_calls": 0, "tool_errors": 0, "input_tokens": 0,
                  "output_tokens": 0, "cache_read_tokens": 0, "cost_usd": None, "unpriced_calls": 0}  # fmt: skip
        common = {"trace_id": trace_id, "agent_name": agent, "user_id": user, "session_id": session}
        if steps:
            for i in range(steps):
                step_id, step_start = self.hex(8), self.clock
                self.llm(common, step_id, totals)
                for _ in range(3):
                    self.tool(common, step_id, totals)
                self.span(common, step_id, root_id, f"step {i}", "chain", step_start, self.clock)
        else:
            for _ in range(rng.randint(2, 6)):
                self.llm(common, root_id, totals)
                if rng.random() < 0.7:
                    self.tool(common, root_id, totals)
        failed = rng.random() < 0.03
        root = self.span(common, root_id, "", f"invoke_agent {agent}", "agent", start, self.clock, error=failed)
        root["input"] = [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
        root["output"] = [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
        root["run_hints"] = {"is_root": True, "service_name": agent}
        self.runs.append(
            {**self.run_defaults, **totals, "trace_id": trace_id, "name": f"invoke_agent {agent}", "agent_name": agent,
             "user_id": user, "session_id": session, "service_name": agent, "environment": "production",
             "root_span_id": root_id, "has_root": True, "status": "error" if failed else "ok",
             "error_message": "RuntimeError: agent gave up" if failed else "", "start_time": start,
             "end_time": self.clock, "duration_ms": (self.clock - start).total_seconds() * 1000,
             "input": root["input"], "output": root["output"], "span_count": len(self.spans) - first}
        )  # fmt: skip

    def llm(self, common: dict, parent: str, totals: dict) -> None:
        rng = self.rng
        model, provider, price_in, price_out = rng.choices(MODELS, weights=MODEL_WEIGHTS)[0]
        tokens_in, tokens_out = rng.randint(500, 12000), rng.randint(20, 900)
        cached = rng.randint(0, tokens_in // 2) // 128 * 128
        failed = rng.random() < 0.01
        cost = None
        if price_in and not failed:
            cost = (Decimal(tokens_in - cached) * Decimal(price_in) + Decimal(cached) * Decimal(price_in) / 10
                    + Decimal(tokens_out) * Decimal(price_out)) / Decimal(1_000_000)  # fmt: skip
        start = self.clock
        self.clock += timedelta(seconds=0.3 + tokens_out * 0.015 * rng.uniform(0.7, 1.4))
        span = self.span(common, self.hex(8), parent, f"chat {model}", "llm", start, self.clock, error=failed)
        span.update(operation="chat", provider=provider, request_model=model, response_model=model)
        span["input"] = [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
        if failed:
            span.update(error_type="RateLimitError", error_message="Error code: 429")
            totals["failed_llm_calls"] += 1
        else:
            span.update(
                output=[{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}],
                input_tokens=tokens_in, output_tokens=tokens_out, cache_read_tokens=cached,
                response_id=f"resp_{self.hex(8)}", counts_usage=True, cost_usd=cost, computed_cost=cost,
                cost_source="computed" if cost is not None else "unpriced",
                price_ref=f"{provider}:{model}" if cost is not None else "",
            )  # fmt: skip
            totals["input_tokens"] += tokens_in
            totals["output_tokens"] += tokens_out
            totals["cache_read_tokens"] += cached
            if cost is None:
                totals["unpriced_calls"] += 1
            else:
                totals["cost_usd"] = (totals["cost_usd"] or Decimal(0)) + cost
        totals["llm_calls"] += 1

    def tool(self, common: dict, parent: str, totals: dict) -> None:
        rng = self.rng
        name = rng.choice(TOOLS)
        failed = rng.random() < TOOL_ERROR_RATES.get(name, 0.02)
        start = self.clock
        self.clock += timedelta(seconds=rng.lognormvariate(-1.5, 1.0))
        span = self.span(common, self.hex(8), parent, f"execute_tool {name}", "tool", start, self.clock, error=failed)
        span.update(operation="execute_tool", tool_name=name, tool_call_id=f"call_{self.hex(6)}")
        span["input"] = {"query": "order status A-10432"}
        if failed:
            span.update(error_type="httpx.ReadTimeout", error_message="The read operation timed out")
        else:
            span["output"] = "3 results"
        totals["tool_calls"] += 1
        totals["tool_errors"] += failed

    def span(self, common: dict, span_id: str, parent: str, name: str, kind: str, start, end, *, error=False):
        span = {**self.span_defaults, **common, "span_id": span_id, "parent_span_id": parent, "name": name,
                "kind": kind, "start_time": start, "end_time": end, "is_error": error,
                "duration_ms": (end - start).total_seconds() * 1000, "attributes": {"gen_ai.request.temperature": 0.2}}  # fmt: skip
        self.spans.append(span)
        return span


def defaults(model) -> dict:
    """Every column's default, by attname; auto_now columns get the current time."""
    from django.utils import timezone

    now = timezone.now()
    values = {}
    for f in model._meta.concrete_fields:
        if not f.primary_key:
            values[f.attname] = (
                now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
            )
    return values


def insert(model, rows: list[dict]) -> None:
    """Rows of column values: executemany, or COPY on PostgreSQL (several times faster)."""
    from django.db import connection, models

    ops = connection.ops
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    adapters = []
    for f in fields:
        if isinstance(f, models.JSONField):
            adapters.append(lambda v: None if v is None else json.dumps(v))
        elif isinstance(f, models.DateTimeField):
            adapters.append(ops.adapt_datetimefield_value)
        elif isinstance(f, models.DecimalField):
            adapters.append(lambda v, f=f: ops.adapt_decimalfield_value(v, f.max_digits, f.decimal_places))
        else:
            adapters.append(None)
    pairs = [(f.attname, adapt) for f, adapt in zip(fields, adapters, strict=True)]
    values = [tuple(adapt(row[name]) if adapt else row[name] for name, adapt in pairs) for row in rows]
    table, columns = model._meta.db_table, ", ".join(ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)  # noqa: S608


def build(n_spans: int, days: int, rng: random.Random):
    """A fresh bench project with about n_spans spans over `days` days, and its rollups."""
    from aggregates import rollups
    from tenancy import services
    from tenancy.models import Project

    drop_existing()
    project, new_key = services.project_create("UI bench", org_slug=ORG)
    Project.objects.filter(pk=project.pk).update(slug=SLUG)
    project.refresh_from_db()
    builder = Builder(project, new_key.api_key, rng)
    now = datetime.now(UTC)
    started = time.perf_counter()
    builder.run(now - timedelta(hours=5), trace_id=BIG_TRACE, steps=BIG_STEPS)
    loaded = 0
    while loaded + len(builder.spans) < n_spans:
        builder.run(now - timedelta(seconds=rng.uniform(600, days * 86400)))
        if len(builder.spans) >= 50_000:
            loaded += flush(builder)
            print(f"  {loaded:,} spans ({loaded / (time.perf_counter() - started):,.0f}/s)", end="\r", flush=True)
    loaded += flush(builder)
    print(f"\nloaded {loaded:,} spans in {time.perf_counter() - started:.0f}s" + " " * 20)
    started = time.perf_counter()
    hours = rollups.rebuild(project=project)
    print(f"rollups: {hours} hours rebuilt in {time.perf_counter() - started:.0f}s")
    analyze()
    return project


def analyze() -> None:
    """PostgreSQL: planner statistics, as autovacuum would gather after a bulk load. Without them
    the planner guesses 1 row per table and the runs list filtered by model takes ~20 s at 50k
    spans (a nested loop over every LLM span) instead of ~2 ms. SQLite is left as deployed: the
    app never runs ANALYZE there."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def flush(builder: Builder) -> int:
    from django.db import transaction

    from ingest.models import Run, Span

    count = len(builder.spans)
    with transaction.atomic():
        insert(Span, builder.spans)
        insert(Run, builder.runs)
    builder.spans, builder.runs = [], []
    return count


def drop_existing() -> None:
    """Delete the previous bench project; its spans first, in one statement each."""
    from aggregates.models import RollupDirty
    from aggregates.rollups import TABLES
    from ingest.models import Run, Span
    from tenancy.models import Project

    for project in Project.objects.filter(organization__slug=ORG, slug=SLUG):
        for model in (Span, Run, *TABLES, RollupDirty):
            model.objects.filter(project=project)._raw_delete(model.objects.db)
        project.delete()


# --- timing ----------------------------------------------------------------------------------


def pages(project) -> list[tuple[str, str, dict, dict]]:
    """(label, path, query, extra headers) of every page timed."""
    from ingest.models import Run, Span

    base = f"/p/{ORG}/{SLUG}"
    big = f"{base}/runs/{BIG_TRACE}/"
    big_spans = Run.objects.get(project=project, trace_id=BIG_TRACE).span_count
    llms = Span.objects.filter(project=project, trace_id=BIG_TRACE, kind="llm").order_by("start_time")
    llm = llms.values_list("span_id", flat=True)[BIG_STEPS // 2]
    panel = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "span-panel"}
    return [
        ("overview 7d", f"{base}/", {"since": "7d"}, {}),
        ("cost: agent, yesterday", f"{base}/cost/", {"group_by": "agent", "since": "yesterday"}, {}),
        ("cost: model, 30d", f"{base}/cost/", {"group_by": "model", "since": "30d"}, {}),
        ("runs list", f"{base}/runs/", {}, {}),
        ("runs list: agent+error", f"{base}/runs/", {"agent": "sql-analyst", "status": "error"}, {}),
        ("runs list: model", f"{base}/runs/", {"model": "claude-3-5-haiku"}, {}),
        (f"run detail ({big_spans:,} spans)", big, {}, {}),
        ("span panel partial", big, {"span": llm}, panel),
        ("tools 7d", f"{base}/tools/", {"since": "7d"}, {}),
        ("models 7d", f"{base}/models/", {"since": "7d"}, {}),
    ]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_page(client, path: str, query: dict, headers: dict, repeats: int) -> tuple[int, float, float, int]:
    """(status, p50 ms, p95 ms, SQL queries of one request) after a warm-up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path, query, **headers)
    if response.status_code != 200:
        return response.status_code, 0, 0, 0
    for _ in range(2):
        client.get(path, query, **headers)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(path, query, **headers)
        samples.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(path, query, **headers)
    return 200, *percentiles(samples), len(queries)


TARGETS_MS = {"overview 7d": 200, "runs list": 200, "run detail": 500}  # by label prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="time the bench project already built, if any")
    parser.add_argument("--pages", default="", help="comma-separated labels (prefix match) to time; default all")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from ingest.models import Span
    from tenancy.models import Membership, Project

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    project = Project.objects.filter(organization__slug=ORG, slug=SLUG).first() if args.reuse else None
    if project is None:
        project = build(args.spans, args.days, random.Random(42))
    else:
        print(f"reusing project {project} ({Span.objects.filter(project=project).count():,} spans)")
    user, _ = User.objects.get_or_create(username="ui-bench")
    Membership.objects.get_or_create(organization=project.organization, user=user)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    wanted = [p.strip() for p in args.pages.split(",") if p.strip()]
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for label, path, query, headers in pages(project):
        if wanted and not any(label.startswith(w) for w in wanted):
            continue
        status, p50, p95, queries = time_page(client, path, query, headers, args.repeats)
        if status == 404:
            print(f"{label:28} skipped: 404 (page not written yet?)")
            continue
        if status != 200:
            print(f"{label:28} skipped: answered {status}")
            continue
        target = next((ms for prefix, ms in TARGETS_MS.items() if label.startswith(prefix) and ":" not in label), None)
        verdict = "" if target is None else (f"  ok (< {target})" if p95 < target else f"  SLOW (target {target})")
        print(f"{label:28} {p50:8.1f} {p95:8.1f} {queries:8d}{verdict}")


if __name__ == "__main__":
    main()
