"""Pure: a realistic stretch of multi-agent traffic as OTLP protobuf exports, for `seed_demo`.

Five agents answer users over days of traffic shaped like a working week; each run is one
trace in the OpenTelemetry GenAI conventions (docs/conventions.md, "Sources", tag SC): an `invoke_agent` root, `chat`
calls with token usage (cache reads included) and prompts/completions in
`gen_ai.input.messages` / `gen_ai.output.messages`, and `execute_tool` calls. Some tools fail
(fetch_url often), some runs fail with an exception event, conversations span several runs of
one session, one self-hosted model has no public price, and on one day a research loop runs
away (the cost spike a budget should catch).

Content is drawn from a seeded random generator, so one seed gives the same traffic; trace
and span ids are fresh every time, so seeding twice adds runs instead of colliding.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SCOPE = "agentledger.demo"
SPIKE_AGENT = "research-agent"
UNPRICED_MODEL = "acme-llama-ft"
EVALUATED_SHARE = 0.6  # the share of runs an online evaluator grades (sampling, as in production)
GROUNDED_RATE = {"support-bot": 0.82, "research-agent": 0.9, "sql-analyst": 0.94}  # others: 0.96
INTERNAL, CLIENT = trace_pb2.Span.SPAN_KIND_INTERNAL, trace_pb2.Span.SPAN_KIND_CLIENT
STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR


@dataclass(frozen=True)
class Model:
    name: str
    provider: str  # gen_ai.provider.name
    system: str  # gen_ai.system, the name before SC 1.37
    seconds_per_token: float
    caches: bool = True
    error: tuple[str, str] = ("openai.RateLimitError", "Error code: 429 - Rate limit reached on tokens per min")


MODELS = {
    m.name: m
    for m in (
        Model("gpt-4o", "openai", "openai", 0.018),
        Model("gpt-4o-mini", "openai", "openai", 0.009),
        Model("claude-sonnet-4", "anthropic", "anthropic", 0.022,
              error=("anthropic.OverloadedError", "Error code: 529 - {'type': 'overloaded_error', 'message': 'Overloaded'}")),
        Model("claude-3-5-haiku", "anthropic", "anthropic", 0.010,
              error=("anthropic.OverloadedError", "Error code: 529 - {'type': 'overloaded_error', 'message': 'Overloaded'}")),
        Model("gemini-2.0-flash", "gcp.gemini", "gemini", 0.006,
              error=("google.api_core.exceptions.ResourceExhausted", "429 Resource has been exhausted (e.g. check quota).")),
        Model(UNPRICED_MODEL, "vllm", "vllm", 0.012, caches=False,
              error=("openai.APITimeoutError", "Request timed out.")),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Tool:
    name: str
    error_rate: float
    seconds: tuple[float, float]  # lognormal mu, sigma
    result_tokens: tuple[int, int]
    errors: tuple[tuple[str, str], ...]


TOOLS = {
    t.name: t
    for t in (
        Tool("vector_search", 0.01, (-2.2, 0.5), (800, 2500),
             (("qdrant_client.http.exceptions.ResponseHandlingException", "timed out"),)),
        Tool("web_search", 0.03, (0.1, 0.4), (500, 1400),
             (("SearchAPIError", "429 Too Many Requests from the search provider"),)),
        Tool("fetch_url", 0.15, (0.3, 0.9), (1500, 6000),  # the flaky one
             (("httpx.ReadTimeout", "The read operation timed out"),
              ("httpx.HTTPStatusError", "Client error '403 Forbidden'"),
              ("httpx.ConnectError", "[Errno -2] Name or service not known"))),
        Tool("sql_query", 0.05, (-1.2, 1.0), (100, 1200),
             (("psycopg.errors.UndefinedColumn", 'column "region_name" does not exist'),
              ("psycopg.errors.QueryCanceled", "canceling statement due to statement timeout"))),
        Tool("lookup_order", 0.02, (-2.5, 0.4), (120, 300), (("OrderNotFound", "no order with this number"),)),
        Tool("send_email", 0.02, (-1.2, 0.3), (15, 40),
             (("smtplib.SMTPRecipientsRefused", "(550, b'5.1.1 User unknown')"),)),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Task:
    question: str
    topic: str  # what the tools are asked for
    answer: str


@dataclass(frozen=True)
class Agent:
    name: str
    share: float  # of all runs
    models: tuple[tuple[str, float], ...]  # model, weight
    tools: tuple[str, ...]
    rounds: tuple[int, int]  # tool rounds per run
    answer_tokens: tuple[int, int]
    system_tokens: int
    system: str
    tasks: tuple[Task, ...]
    staff: bool  # staff work office hours; customers write any time
    workflow: str  # gen_ai.workflow.name on the root: the run's name
    turns: tuple[int, int] = (1, 1)  # runs per session (conversation)


SUPPORT = Agent(
    "support-bot", 0.34, (("gpt-4o-mini", 0.85), ("gpt-4o", 0.15)), ("vector_search", "lookup_order", "send_email"),
    (0, 2), (80, 350), 1400,
    "You are Acme's customer support assistant. Answer from the knowledge base, look orders up before "
    "answering about them, and never promise refunds over $200 without a human.",
    (
        Task("Where is my order A-{n}? It was supposed to arrive yesterday.", "order A-{n}",
             "Order A-{n} left our warehouse on Monday and is with DHL; tracking shows delivery tomorrow before 18:00. "
             "I've emailed you the tracking link."),
        Task("How do I reset my password? The reset email never arrives.", "password reset email",
             "Reset emails come from no-reply@acme.io and can take 5 minutes; please check your spam folder. "
             "I've just sent you a fresh link."),
        Task("Can I change the shipping address on an order I placed an hour ago?", "change shipping address",
             "Yes, until an order is packed. I've updated order A-{n} to the new address and emailed a confirmation."),
        Task("I was charged twice for my subscription this month.", "duplicate subscription charge",
             "I see two $29.00 charges on the 3rd: the second is a pre-authorization that drops off within "
             "3-5 business days. If it doesn't, reply here and I'll refund it."),
        Task("Do you ship to Canada, and do I pay import duties?", "international shipping canada",
             "We ship to Canada with DHL in 4-6 business days, and duties are prepaid at checkout."),
        Task("What's your return policy for opened items?", "return policy opened items",
             "Opened items can be returned within 30 days if undamaged; we refund to the original payment method."),
    ),
    workflow="Customer chat",
    staff=False, turns=(1, 4),
)  # fmt: skip

FOLLOW_UPS = (
    Task("Thanks! Can I get the invoice as a PDF?", "invoice pdf", "Sure, I've emailed the PDF invoice to you."),
    Task("OK. How long does a refund take?", "refund timeline",
         "Refunds reach your card within 5-7 business days of the warehouse receiving the item."),
    Task("And can I pay with PayPal next time?", "payment methods", "Yes, PayPal, Apple Pay and all major cards."),
    Task("Great, that's all.", "", "You're welcome. Have a great day!"),
)  # fmt: skip

RESEARCH = Agent(
    SPIKE_AGENT, 0.16, (("claude-sonnet-4", 0.6), ("claude-3-5-haiku", 0.4)), ("web_search", "fetch_url", "vector_search"),
    (1, 3), (500, 1400), 2200,
    "You are a research analyst. Search the web and our internal notes, read the primary sources, "
    "and write a sourced brief. Cite every claim.",
    (
        Task("Summarize recent findings on evaluating retrieval-augmented generation.", "RAG evaluation benchmarks",
             "Three findings stand out: LLM-as-judge agrees with humans on faithfulness (~0.8 Spearman) but not on "
             "completeness; retrieval recall dominates answer quality; synthetic test sets overstate gains. Sources: …"),
        Task("Compare the pricing of the top three managed vector databases for 50M embeddings.",
             "managed vector database pricing",
             "At 50M 1536-d vectors: Pinecone serverless ≈ $1,150/month, Weaviate Cloud ≈ $1,400, Qdrant Cloud "
             "≈ $980 with quantization. Storage, not queries, drives the bill at this size."),
        Task("What changed in the EU AI Act obligations for general-purpose models this year?", "EU AI Act GPAI",
             "Since August, GPAI providers must publish a training-data summary, keep technical documentation and "
             "respect copyright opt-outs; models with systemic risk also need evaluations and incident reporting."),
        Task("Find public complaints about our mobile app onboarding.", "acme app onboarding complaints",
             "Recurring themes across 41 posts: SMS code delays (14), forced account creation before browsing (11), "
             "and a crash on Android 14 at the address step (6)."),
        Task("One-page brief on Globex's latest product launch.", "Globex product launch",
             "Globex launched Flow, a usage-priced workflow tool at $12/seat, aimed squarely at our SMB tier. "
             "Early reviews praise templates and criticise the API limits."),
    ),
    workflow="Research brief",
    staff=True, turns=(1, 2),
)  # fmt: skip

SQL = Agent(
    "sql-analyst", 0.15, (("gpt-4o", 0.7), ("gpt-4o-mini", 0.3)), ("sql_query", "vector_search"),
    (1, 3), (120, 500), 3000,
    "You translate business questions into read-only PostgreSQL over the analytics schema, run them, "
    "and explain the result in two sentences with the numbers.",
    (
        Task("What was revenue by region last quarter?",
             "SELECT region, sum(amount) AS revenue FROM orders WHERE ordered_at >= date_trunc('quarter', now()) "
             "- interval '3 months' AND ordered_at < date_trunc('quarter', now()) GROUP BY 1 ORDER BY 2 DESC",
             "EMEA led with $1.20M (41%), then North America $1.05M and APAC $0.68M; APAC grew fastest (+18% QoQ)."),
        Task("How many weekly active users did we have over the last 8 weeks?",
             "SELECT date_trunc('week', seen_at) AS week, count(DISTINCT user_id) FROM events "
             "WHERE seen_at > now() - interval '8 weeks' GROUP BY 1 ORDER BY 1",
             "Weekly actives rose from 18,240 to 21,905 (+20%), with a dip in week 5 during the outage."),
        Task("Which 10 customers opened the most support tickets this month?",
             "SELECT customer_id, count(*) FROM tickets WHERE opened_at >= date_trunc('month', now()) "
             "GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
             "The top 10 opened 212 tickets, 9% of all; cust-1042 alone opened 38, mostly about delivery delays."),
        Task("What's the average order value for new vs returning customers?",
             "SELECT first_order, avg(amount) FROM orders_enriched GROUP BY 1",
             "Returning customers spend $86.40 per order against $61.10 for new ones (+41%)."),
        Task("Show churned subscriptions by plan for the last 90 days.",
             "SELECT plan, count(*) FROM subscriptions WHERE cancelled_at > now() - interval '90 days' GROUP BY 1",
             "412 cancellations: Starter 301, Pro 97, Team 14. Starter churn is 3 times Pro's."),
    ),
    workflow="Analytics question",
    staff=True, turns=(1, 3),
)  # fmt: skip

REVIEWER = Agent(
    "code-reviewer", 0.15, (("claude-sonnet-4", 0.75), ("gpt-4o-mini", 0.25)), ("fetch_url", "web_search"),
    (1, 2), (300, 1100), 1800,
    "You review pull requests for correctness, security and readability. Be specific: file, line, fix.",
    (
        Task("Review PR #{n}: retry the payment webhook with exponential backoff", "github.com/acme/shop/pull/{n}",
             "Two issues: the loop catches Exception, so a ValidationError is retried five times (catch "
             "httpx.TransportError only), and the delay has no jitter. Otherwise good to merge."),
        Task("Review PR #{n}: migrate orders.id to bigint", "github.com/acme/shop/pull/{n}",
             "The ALTER rewrites a 90M-row table under an exclusive lock; add a new column, backfill in batches "
             "and swap. The foreign keys in refunds and shipments also need the change."),
        Task("Review PR #{n}: cache product search results in Redis", "github.com/acme/shop/pull/{n}",
             "The cache key ignores the user's locale, so prices leak across currencies. Add locale and "
             "currency to the key and set a TTL; invalidation on price change is missing."),
        Task("Review PR #{n}: upgrade Django to 5.2 LTS", "github.com/acme/shop/pull/{n}",
             "Clean upgrade. Remove the USE_L10N setting (gone since 5.0) and run makemigrations --check in CI."),
    ),
    workflow="Pull request review",
    staff=True,
)  # fmt: skip

TRIAGE = Agent(
    "triage-router", 0.20, ((UNPRICED_MODEL, 0.7), ("gemini-2.0-flash", 0.3)), ("send_email",),
    (0, 1), (20, 90), 600,
    "Classify the incoming message as one of: support, billing, sales, bug. Answer with JSON only.",
    (
        Task("Subject: refund not received. I returned my order three weeks ago.", "billing",
             "Routed to billing; the customer got an acknowledgement."),
        Task("My package arrived damaged, the box was crushed.", "support", "Handed to support-bot."),
        Task("Hi, we'd like a quote for 200 units for our offices.", "sales", "Routed to sales."),
        Task("The app crashes when I open my order history on Android 14.", "bug", "Filed for the mobile team."),
        Task("Where's my order? Nobody answers my emails.", "support", "Handed to support-bot."),
    ),
    workflow="Inbox triage",
    staff=False,
)  # fmt: skip

AGENTS = (SUPPORT, RESEARCH, SQL, REVIEWER, TRIAGE)
CUSTOMERS = tuple(f"cust-{n}" for n in (1042, 1077, 1103, 1150, 1188, 1219, 1264, 1301, 1345, 1390, 1422, 1467))
STAFF = ("ana.lima", "ben.okafor", "chloe.martin", "dev.patel", "emma.schulz", "farid.haddad", "grace.kim", "hugo.berg")


@dataclass
class DemoRun:
    """One trace: its agent (the service that sent it) and its spans, root first."""

    agent: str
    spans: list[trace_pb2.Span]
    spike: bool = False


# --- traffic -----------------------------------------------------------------------------


def generate(*, days: int, runs_per_day: int, end: datetime, seed: int) -> list[DemoRun]:
    """Runs from midnight UTC `days - 1` days ago until `end`, about runs_per_day a day, plus
    the spike's runaway runs. Whole calendar days, so the dashboard's "7 days" holds them all."""
    rng = random.Random(seed)  # noqa: S311  (demo content, not security)
    start = _midnight(end) - timedelta(days=days - 1)
    runs: list[DemoRun] = []
    target = round(runs_per_day * (end - start) / timedelta(days=1))
    while len(runs) < target:
        agent = rng.choices(AGENTS, weights=[a.share for a in AGENTS])[0]
        runs += _conversation(rng, agent, _busy_time(rng, start, end, agent.staff), end)
    spike_at = _spike_start(start, end, days)
    runs += [_runaway(rng, spike_at + timedelta(minutes=9 * i)) for i in range(spike_runs(runs_per_day))]
    return sorted(runs, key=lambda r: r.spans[0].start_time_unix_nano)


def spike_runs(runs_per_day: int) -> int:
    """Enough runaway runs that the spike day costs about 10 times the agent's normal weekday."""
    return max(1, round(runs_per_day / 30))


def spike_day(end: datetime, days: int) -> datetime:
    """Midnight UTC of the spike: the day before yesterday (or the earliest day seeded)."""
    return _midnight(end) - timedelta(days=min(2, max(days - 1, 0)))


def _midnight(at: datetime) -> datetime:
    day = at.astimezone(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _spike_start(start: datetime, end: datetime, days: int) -> datetime:
    at = spike_day(end, days) + timedelta(hours=13)
    return max(start, min(at, end - timedelta(hours=3)))


def _weight(at: datetime, staff: bool) -> float:
    """Relative traffic in this hour: office hours for staff, a flatter day for customers."""
    hour, weekend = at.hour, at.weekday() >= 5
    if 8 <= hour < 18:
        level = 1.0
    elif 6 <= hour < 22:
        level = 0.3 if staff else 0.55
    else:
        level = 0.04 if staff else 0.15
    return level * ((0.15 if staff else 0.6) if weekend else 1.0)


def _busy_time(rng: random.Random, start: datetime, end: datetime, staff: bool) -> datetime:
    """A time in [start, end - 10 min], drawn in proportion to the traffic shape."""
    span = max((end - start).total_seconds() - 600, 60)
    while True:
        at = start + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < _weight(at, staff):
            return at


def _conversation(rng: random.Random, agent: Agent, at: datetime, end: datetime) -> list[DemoRun]:
    """The runs of one session: same user, one conversation id, turns a few minutes apart."""
    user = _user(rng, agent.staff)
    turns = rng.randint(*agent.turns)
    session = f"conv-{rng.randbytes(6).hex()}" if agent.turns[1] > 1 else ""
    history: list[dict[str, Any]] = []
    task = rng.choice(agent.tasks)
    number = str(rng.randint(10_000, 99_999))
    runs = []
    for turn in range(turns):
        if at > end - timedelta(seconds=120):
            break
        if turn:
            task = rng.choice(FOLLOW_UPS if agent is SUPPORT else agent.tasks)
        builder = _RunBuilder(rng, agent, at, user=user, session=session, number=number)
        runs.append(builder.run(task, history))
        at += timedelta(seconds=builder.clock + rng.uniform(40, 400))
    return runs


def _user(rng: random.Random, staff: bool) -> str:
    """A few heavy users and a long tail (Zipf-like)."""
    pool = STAFF if staff else CUSTOMERS
    return rng.choices(pool, weights=[1 / (i + 1) for i in range(len(pool))])[0]


def _runaway(rng: random.Random, at: datetime) -> DemoRun:
    """The research agent stuck in a search → fetch → think loop on its big model until the
    recursion limit stops it: the context grows every round."""
    builder = _RunBuilder(rng, RESEARCH, at, user="dev.patel", session="", number="")
    task = Task("Build a pricing table for every vendor in the attached 300-company list.", "SaaS vendor pricing", "")
    return builder.runaway(task, rounds=rng.randint(22, 28))


# --- one run -----------------------------------------------------------------------------


@dataclass
class _RunBuilder:
    rng: random.Random
    agent: Agent
    at: datetime
    user: str
    session: str
    number: str
    clock: float = 0.0  # seconds since the run started
    spans: list[trace_pb2.Span] = field(default_factory=list)
    trace_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    context: int = 0  # tokens in the prompt so far
    previous_input: int = 0  # the last call's prompt: what a provider cache can hold

    def run(self, task: Task, history: list[dict[str, Any]]) -> DemoRun:
        """A normal run: some tool rounds, then an answer. May fail like production runs do."""
        question, answer = self._fill(task.question), self._fill(task.answer)
        root = self._agent_span(self.agent, None, question)
        self.context = self.agent.system_tokens + 120 * len(self.agent.tools) + _tokens(json.dumps(history))
        messages = [*history, _message("user", question)]
        model = _pick(self.rng, self.agent.models)
        try:
            if self.agent is TRIAGE:
                answer = self._triage(root, task, messages, model)
            else:
                self._work(root, self.agent, task, messages, model)
                self._answer(root, self.agent, messages, model, answer)
        except _RunFailed as failure:
            self._fail(root, failure)
            failed = True
        else:
            root.attributes.append(_kv("gen_ai.output.messages", _json([_message("assistant", answer, "stop")])))
            history += [_message("user", question), _message("assistant", answer)]
            failed = False
        root.end_time_unix_nano = self._ns(self.clock)
        self._evaluate(root, failed)
        return DemoRun(self.agent.name, self.spans)

    def _evaluate(self, root: trace_pb2.Span, failed: bool) -> None:
        """An online evaluator's verdicts as OTel `gen_ai.evaluation.result` events on the root
        span (they become scores at intake). Drawn from the trace id, not the run's generator, so
        the traffic itself stays the same for a given seed."""
        judge = random.Random(self.trace_id)  # noqa: S311  (demo content, not security)
        if judge.random() >= EVALUATED_SHARE:
            return
        passed = not failed and judge.random() < GROUNDED_RATE.get(self.agent.name, 0.96)
        reason = "every claim is backed by a tool result" if passed else "states facts no tool returned"
        helpfulness = judge.randint(7, 10) if passed else judge.randint(1, 5)
        for name, value, label, explanation in (
            ("grounded", None, "pass" if passed else "fail", reason),
            ("helpfulness", helpfulness, None, "answers the question asked" if passed else "misses the point"),
        ):
            event = root.events.add(name="gen_ai.evaluation.result", time_unix_nano=root.end_time_unix_nano)
            event.attributes.append(_kv("gen_ai.evaluation.name", name))
            if value is not None:
                event.attributes.append(_kv("gen_ai.evaluation.score.value", float(value)))
            if label is not None:
                event.attributes.append(_kv("gen_ai.evaluation.score.label", label))
            event.attributes.append(_kv("gen_ai.evaluation.explanation", explanation))

    def runaway(self, task: Task, rounds: int) -> DemoRun:
        root = self._agent_span(self.agent, None, task.question)
        self.context = self.agent.system_tokens + 3000
        sonnet, prompt = MODELS["claude-sonnet-4"], [_message("user", task.question)]
        for _ in range(rounds):  # a runaway loop retries everything: only the recursion limit stops it
            calls = _tool_calls(["web_search", "fetch_url"], task.topic)
            self._chat(root, self.agent, sonnet, prompt, calls, "tool_call", self.rng.randint(150, 400), fatal=0)
            for call in calls:
                self._tool(root, self.agent, call["name"], call["arguments"], call_id=call["id"], fatal=0)
        limit = f"Recursion limit of {rounds} reached without hitting a stop condition."
        self._fail(root, _RunFailed("langgraph.errors.GraphRecursionError", limit))
        return DemoRun(self.agent.name, self.spans, spike=True)

    def _fill(self, text: str) -> str:
        return text.replace("{n}", self.number or "4182")

    def _agent_span(self, agent: Agent, parent: trace_pb2.Span | None, question: str) -> trace_pb2.Span:
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent.name,
            "gen_ai.input.messages": _json([_message("user", question)]),
        }
        if self.user:
            attributes["user.id"] = self.user
        if self.session:
            attributes["gen_ai.conversation.id"] = self.session
        if parent is None:
            attributes["gen_ai.workflow.name"] = agent.workflow
        return self._span(f"invoke_agent {agent.name}", parent, INTERNAL, attributes)

    def _work(
        self, parent: trace_pb2.Span, agent: Agent, task: Task, messages: list[dict[str, Any]], model: str
    ) -> None:
        """Tool rounds: the model asks for one or two tools, the tools answer, the context grows."""
        for _ in range(self.rng.randint(*agent.rounds)):
            wanted = self.rng.sample(agent.tools, k=min(len(agent.tools), self.rng.choice((1, 1, 2))))
            calls = _tool_calls(wanted, self._fill(task.topic) or task.question)
            self._chat(parent, agent, MODELS[model], messages, calls, "tool_call", self.rng.randint(25, 120))
            messages.append({"role": "assistant", "parts": calls})
            for call in calls:
                result = self._tool(parent, agent, call["name"], call["arguments"], call_id=call["id"])
                messages.append(
                    {"role": "tool", "parts": [{"type": "tool_call_response", "id": call["id"], "response": result}]}
                )

    def _answer(
        self, parent: trace_pb2.Span, agent: Agent, messages: list[dict[str, Any]], model: str, answer: str
    ) -> None:
        output = [{"type": "text", "content": answer}]
        self._chat(parent, agent, MODELS[model], messages, output, "stop", self.rng.randint(*agent.answer_tokens))

    def _triage(self, root: trace_pb2.Span, task: Task, messages: list[dict[str, Any]], model: str) -> str:
        """Classify on the cheap model, then hand over to support-bot or email a team."""
        route = [{"type": "text", "content": json.dumps({"route": task.topic, "confidence": 0.93})}]
        self._chat(root, TRIAGE, MODELS[model], messages, route, "stop", self.rng.randint(*TRIAGE.answer_tokens))
        if task.topic == "support":
            child = self._agent_span(SUPPORT, root, task.question)
            self.context = SUPPORT.system_tokens + 400
            support_task = self.rng.choice(SUPPORT.tasks)
            answer = self._fill(support_task.answer)
            try:
                self._work(child, SUPPORT, support_task, messages, "gpt-4o-mini")
                self._answer(child, SUPPORT, messages, "gpt-4o-mini", answer)
            finally:
                child.end_time_unix_nano = self._ns(self.clock)
            return answer
        self._tool(root, TRIAGE, "send_email", {"to": f"{task.topic}@acme.io", "subject": task.question[:60]})
        return self._fill(task.answer)

    def _chat(
        self,
        parent: trace_pb2.Span,
        agent: Agent,
        model: Model,
        messages: Sequence[dict[str, Any]],
        output: list[dict[str, Any]],
        finish: str,
        output_tokens: int,
        *,
        fatal: float = 0.5,
    ) -> None:
        input_tokens = self.context + _tokens(json.dumps(messages[-2:]))
        cache_read = 0
        if model.caches and self.previous_input >= 1024:
            cache_read = int(self.previous_input * self.rng.uniform(0.6, 0.95)) // 128 * 128
        self.previous_input = input_tokens
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.agent.name": agent.name,
            "gen_ai.provider.name": model.provider,
            "gen_ai.system": model.system,
            "gen_ai.request.model": model.name,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 2048,
            "gen_ai.system_instructions": _json([{"type": "text", "content": agent.system}]),
            "gen_ai.input.messages": _json(messages[-6:]),
        }
        seconds = 0.25 + input_tokens / 60_000 + output_tokens * model.seconds_per_token * self.rng.uniform(0.7, 1.5)
        span = self._span(f"chat {model.name}", parent, CLIENT, attributes, seconds=seconds)
        if self.rng.random() < 0.012:  # the provider refuses: retried once, or (fatal) the run fails
            _set_error(span, *model.error, escaped=True)
            self.clock += self.rng.uniform(1, 4)
            if self.rng.random() < fatal:
                raise _RunFailed(*model.error)
            self._chat(parent, agent, model, messages, output, finish, output_tokens)
            return
        usage = {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
        if model.caches:
            usage["gen_ai.usage.cache_read.input_tokens"] = cache_read
        span.attributes.extend(
            [
                _kv("gen_ai.response.model", model.name),
                *(_kv(k, v) for k, v in usage.items()),
                _kv("gen_ai.response.id", f"resp_{secrets.token_hex(12)}"),
                _kv("gen_ai.response.finish_reasons", [finish]),
                _kv("gen_ai.output.messages", _json([{"role": "assistant", "parts": output, "finish_reason": finish}])),
            ]
        )
        self.context += output_tokens

    def _tool(
        self,
        parent: trace_pb2.Span,
        agent: Agent,
        name: str,
        arguments: Any,
        *,
        call_id: str = "",
        fatal: float = 0.08,
    ) -> str:
        """One tool call; a failure goes back to the model as the tool's answer, or (rarely) ends the run."""
        tool = TOOLS[name]
        call_id = call_id or f"call_{secrets.token_hex(8)}"
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.agent.name": agent.name,
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": _json(arguments),
        }
        failed = self.rng.random() < tool.error_rate
        seconds = 10.0 if failed and name == "fetch_url" else self.rng.lognormvariate(*tool.seconds)
        span = self._span(f"execute_tool {name}", parent, INTERNAL, attributes, seconds=seconds)
        if failed:
            error = self.rng.choice(tool.errors)
            _set_error(span, *error, escaped=False)
            if self.rng.random() < fatal:
                raise _RunFailed(*error)
            self.context += 60
            return f"Error: {error[1]}"
        result = _tool_result(name, arguments)
        span.attributes.append(_kv("gen_ai.tool.call.result", result))
        self.context += self.rng.randint(*tool.result_tokens)
        return result

    def _fail(self, root: trace_pb2.Span, failure: _RunFailed) -> None:
        self.clock += self.rng.uniform(0.01, 0.2)
        root.end_time_unix_nano = self._ns(self.clock)
        _set_error(root, failure.type, failure.message, escaped=True, agent=self.agent.name)

    def _span(
        self,
        name: str,
        parent: trace_pb2.Span | None,
        kind: trace_pb2.Span.SpanKind.ValueType,
        attributes: dict[str, Any],
        *,
        seconds: float = 0.0,
    ) -> trace_pb2.Span:
        """A span starting now on the run's clock; `seconds` moves the clock past its end."""
        self.clock += self.rng.uniform(0.005, 0.05)
        span = trace_pb2.Span(
            trace_id=self.trace_id,
            span_id=secrets.token_bytes(8),
            parent_span_id=parent.span_id if parent is not None else b"",
            name=name,
            kind=kind,
            start_time_unix_nano=self._ns(self.clock),
            end_time_unix_nano=self._ns(self.clock + seconds),
            attributes=[_kv(k, v) for k, v in attributes.items()],
        )
        self.clock += seconds
        self.spans.append(span)
        return span

    def _ns(self, seconds: float) -> int:
        return int(self.at.timestamp() * 1e9) + int(seconds * 1e9)


class _RunFailed(Exception):
    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type, self.message = type_, message


def _set_error(span: trace_pb2.Span, type_: str, message: str, *, escaped: bool, agent: str = "") -> None:
    """ERROR status, `error.type` and an `exception` event with a stack trace (SC recording-errors)."""
    span.status.code = STATUS_ERROR
    span.status.message = message
    span.attributes.append(_kv("error.type", type_))
    where = agent or span.name.split()[-1]
    stacktrace = (
        "Traceback (most recent call last):\n"
        f'  File "/app/agents/{where}/loop.py", line 88, in run\n    result = await step(state)\n'
        f'  File "/app/agents/{where}/steps.py", line 41, in step\n    return await call(**arguments)\n'
        f"{type_}: {message}"
    )
    event = span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano)
    event.attributes.extend(
        [
            _kv("exception.type", type_),
            _kv("exception.message", message),
            _kv("exception.stacktrace", stacktrace),
            _kv("exception.escaped", escaped),
        ]
    )


# --- content -----------------------------------------------------------------------------


def _message(role: str, text: str, finish: str = "") -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if finish:
        message["finish_reason"] = finish
    return message


def _tool_calls(tools: Iterable[str], topic: str) -> list[dict[str, Any]]:
    return [
        {"type": "tool_call", "id": f"call_{secrets.token_hex(8)}", "name": name, "arguments": _arguments(name, topic)}
        for name in tools
    ]


def _arguments(tool: str, topic: str) -> Any:
    if topic.startswith("SELECT"):
        table = topic.split(" FROM ")[-1].split()[0]
        return {"query": topic} if tool == "sql_query" else {"query": f"columns of the {table} table", "top_k": 3}
    if tool == "fetch_url":
        return {"url": topic if "/" in topic else f"https://www.google.com/search?q={topic.replace(' ', '+')}"}
    if tool == "lookup_order":
        return {"order_id": topic.split()[-1] if topic.startswith("order") else "A-40211"}
    if tool == "send_email":
        return {"to": "customer@example.com", "subject": f"Re: {topic}", "template": "support_reply"}
    return {"query": topic, "top_k": 5}


def _tool_result(tool: str, arguments: Any) -> str:
    query = str(arguments.get("query") or arguments.get("url") or "") if isinstance(arguments, dict) else ""
    results = {
        "vector_search": f'[{{"doc": "kb/{query[:24].replace(" ", "-")}.md", "score": 0.86}}, {{"doc": "kb/faq.md", "score": 0.71}}]',
        "web_search": f"1. {query.title()} — overview (2025)\n2. What's new in {query}\n3. {query} explained",
        "fetch_url": f"# {query}\n\nFetched 14,2 kB of text; main article extracted.",
        "sql_query": "region | revenue\nEMEA | 1204331.20\nNorth America | 1051877.05\nAPAC | 680412.90\n(3 rows)",
        "lookup_order": '{"status": "in_transit", "carrier": "DHL", "eta": "tomorrow"}',
        "send_email": f'{{"status": "queued", "id": "msg_{secrets.token_hex(6)}"}}',
    }
    return results[tool]


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[w for _, w in weighted])[0]


def _tokens(text: str) -> int:
    return len(text) // 4


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _kv(key: str, value: Any) -> common_pb2.KeyValue:
    kv = common_pb2.KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    elif isinstance(value, list):
        kv.value.array_value.values.extend(common_pb2.AnyValue(string_value=str(v)) for v in value)
    else:
        kv.value.string_value = str(value)
    return kv


# --- export ------------------------------------------------------------------------------


def export_requests(
    runs: Iterable[DemoRun], *, max_spans: int = 300
) -> Iterator[trace_service_pb2.ExportTraceServiceRequest]:
    """OTLP exports of about max_spans spans each, whole runs only, one resource per agent."""
    batch: list[DemoRun] = []
    size = 0
    for run in runs:
        if batch and size + len(run.spans) > max_spans:
            yield _request(batch)
            batch, size = [], 0
        batch.append(run)
        size += len(run.spans)
    if batch:
        yield _request(batch)


def _request(runs: list[DemoRun]) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    by_agent: dict[str, list[trace_pb2.Span]] = {}
    for run in runs:
        by_agent.setdefault(run.agent, []).extend(run.spans)
    for agent, spans in by_agent.items():
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            [
                _kv("service.name", agent),
                _kv("service.version", "1.8.0"),
                _kv("deployment.environment.name", "production"),
                _kv("telemetry.sdk.language", "python"),
            ]
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = SCOPE
        scope_spans.scope.version = "1.0"
        scope_spans.spans.extend(spans)
    return request
