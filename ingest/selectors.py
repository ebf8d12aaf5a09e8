"""Reads of runs and spans: the runs list, run trees, sessions, users, tool failures, unpriced
models. Every function takes the project explicitly; nothing here writes. Totals over time
read the rollups (aggregates/selectors.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf

from ingest.models import LogRecord, Run, Span
from ingest.timeranges import TimeRange
from tenancy.models import Project

# --- Runs ----------------------------------------------------------------------------------


def runs_for_project(
    project: Project,
    *,
    span: TimeRange | None = None,
    agent: str | None = None,
    status: str | None = None,
    model: str | None = None,
    user: str | None = None,
    session: str | None = None,
    min_cost: Decimal | None = None,
    min_duration: float | None = None,
) -> QuerySet[Run]:
    runs = Run.objects.filter(project=project).select_related("api_key")
    if span is not None:
        runs = runs.filter(start_time__gte=span.since, start_time__lt=span.until)
    if agent is not None:
        runs = runs.filter(agent_name=agent)
    if status is not None:
        runs = runs.filter(status=status)
    if user is not None:
        runs = runs.filter(user_id=user)
    if session is not None:
        runs = runs.filter(session_id=session)
    if min_cost is not None:
        runs = runs.filter(cost_usd__gte=min_cost)
    if min_duration is not None:
        runs = runs.filter(duration_ms__gte=min_duration)
    if model is not None:
        runs = runs.filter(trace_id__in=traces_calling_model(project, model))
    return runs


def traces_calling_model(project: Project, model: str) -> QuerySet[Span, Any]:
    """Trace ids (a subquery) of the project's runs with an LLM or embedding call to the model."""
    calls = Span.objects.filter(project=project, kind__in=("llm", "embedding"))
    return calls.filter(Q(request_model=model) | Q(response_model=model)).values("trace_id")


def project_has_runs(project: Project) -> bool:
    """False until the project's first trace arrives (pages then show how to send one)."""
    return Run.objects.filter(project=project).exists()


@dataclass
class SpanNode:
    span: Span
    children: list[SpanNode] = field(default_factory=list)


def run_tree(project: Project, trace_id: str) -> tuple[Run, list[SpanNode]] | None:
    """The run and its spans as a tree (children by start time); None if the project has no
    such trace. Spans whose parent never arrived are shown at the top level."""
    run = Run.objects.filter(project=project, trace_id=trace_id).select_related("api_key").first()
    if run is None:
        return None
    spans = list(Span.objects.filter(project=project, trace_id=trace_id).order_by("start_time", "span_id"))
    nodes = {s.span_id: SpanNode(s) for s in spans}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_span_id)
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    reached = _reachable(roots)
    roots.extend(n for n in nodes.values() if id(n) not in reached)  # parent cycles
    return run, roots


def _reachable(roots: list[SpanNode]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.children)
    return seen


# --- Dashboard: runs ---

# sort name: (Run field, descending); every sort breaks ties by pk in the same direction
RUN_SORTS = {
    "newest": ("start_time", True),
    "oldest": ("start_time", False),
    "cost": ("cost_usd", True),
    "duration": ("duration_ms", True),
}
_NULLABLE_SORTS = frozenset({"cost_usd"})  # no cost (nothing priced) sorts last
_HEX_DIGITS = frozenset("0123456789abcdef")
MIN_TRACE_PREFIX = 4  # shorter hex words are searched as names only


def search_runs(runs: QuerySet[Run], text: str) -> QuerySet[Run]:
    """A trace id, or its first characters, finds the run; any text also finds runs by name."""
    text = text.strip()
    if not text:
        return runs
    names = Q(name__icontains=text)
    compact = text.lower().replace("-", "") if len(text) == 36 else text.lower()
    if len(compact) >= MIN_TRACE_PREFIX and set(compact) <= _HEX_DIGITS:
        trace = Q(trace_id=compact) if len(compact) == 32 else Q(trace_id__startswith=compact)
        return runs.filter(trace | names)
    return runs.filter(names)


@dataclass(frozen=True)
class RunPage:
    """One page of runs, and whether more runs lie after it and before it."""

    runs: list[Run]
    has_next: bool
    has_previous: bool


def run_sort_key(run: Run, sort: str) -> tuple[Any, int]:
    field_name, _ = RUN_SORTS[sort]
    return getattr(run, field_name), run.pk


def runs_page(
    runs: QuerySet[Run],
    *,
    sort: str,
    size: int,
    after: tuple[Any, int] | None = None,
    before: tuple[Any, int] | None = None,
) -> RunPage:
    """Keyset pagination over (sort value, pk): the page after or before a row's key, never an
    OFFSET, so the hundredth page costs what the first does."""
    field_name, descending = RUN_SORTS[sort]
    nullable = field_name in _NULLABLE_SORTS
    if before is not None:
        # Walk the reversed order from the key, then put the page back in display order.
        ordering = _run_ordering(field_name, not descending, nulls_last=False, nullable=nullable)
        beyond = _beyond(field_name, not descending, nulls_last=False, nullable=nullable, key=before)
        rows = list(runs.filter(beyond).order_by(*ordering)[: size + 1])
        return RunPage(rows[:size][::-1], has_next=True, has_previous=len(rows) > size)
    ordering = _run_ordering(field_name, descending, nulls_last=True, nullable=nullable)
    if after is not None:
        runs = runs.filter(_beyond(field_name, descending, nulls_last=True, nullable=nullable, key=after))
    rows = list(runs.order_by(*ordering)[: size + 1])
    return RunPage(rows[:size], has_next=len(rows) > size, has_previous=after is not None)


def _run_ordering(field_name: str, descending: bool, *, nulls_last: bool, nullable: bool) -> list[Any]:
    value, pk = F(field_name), F("pk")
    if not nullable:  # plain ORDER BY, so PostgreSQL can walk run_project_start
        return [value.desc(), pk.desc()] if descending else [value.asc(), pk.asc()]
    nulls = {"nulls_last": True} if nulls_last else {"nulls_first": True}
    return [value.desc(**nulls), pk.desc()] if descending else [value.asc(**nulls), pk.asc()]


def _beyond(field_name: str, descending: bool, *, nulls_last: bool, nullable: bool, key: tuple[Any, int]) -> Q:
    """Rows strictly after `key` in the order (field, pk) both ascending or both descending,
    NULL values last or first."""
    value, pk = key
    step = "lt" if descending else "gt"
    if value is None:
        among_nulls = Q(**{f"{field_name}__isnull": True, f"pk__{step}": pk})
        return among_nulls if nulls_last else among_nulls | Q(**{f"{field_name}__isnull": False})
    # The redundant bound (<= or >=) lets the index range-scan instead of filtering the OR.
    beyond = Q(**{f"{field_name}__{step}e": value}) & (
        Q(**{f"{field_name}__{step}": value}) | Q(**{field_name: value, f"pk__{step}": pk})
    )
    if nullable and nulls_last:
        beyond |= Q(**{f"{field_name}__isnull": True})
    return beyond


def runs_by_trace_ids(project: Project, trace_ids: list[str]) -> list[Run]:
    """The project's runs with these trace ids (those that exist)."""
    return list(Run.objects.filter(project=project, trace_id__in=set(trace_ids)).defer("input", "output"))


def run_for_project(project: Project, trace_id: str) -> Run | None:
    return Run.objects.filter(project=project, trace_id=trace_id).select_related("api_key").first()


# What the span tree and waterfall show of each span: no payloads, no model instances (a run
# may have thousands of spans).
OUTLINE_FIELDS = (
    "span_id", "parent_span_id", "name", "display_name", "kind", "start_time", "end_time", "duration_ms",
    "is_error", "input_tokens", "output_tokens", "cost_usd", "cost_source", "aggregated_usage",
    "guardrail_verdict", "mcp_server",
)  # fmt: skip


def span_outline(project: Project, trace_id: str) -> list[Any]:
    """The run's spans by start time as named tuples of OUTLINE_FIELDS (one query)."""
    spans = Span.objects.filter(project=project, trace_id=trace_id).order_by("start_time", "span_id")
    return list(spans.values_list(*OUTLINE_FIELDS, named=True))


def run_span(project: Project, trace_id: str, span_id: str) -> Span | None:
    return Span.objects.filter(project=project, trace_id=trace_id, span_id=span_id).first()


def span_log_records(project: Project, trace_id: str, span_id: str) -> list[LogRecord]:
    """GenAI events that arrived on the logs signal for this span, in time order."""
    return list(LogRecord.objects.filter(project=project, trace_id=trace_id, span_id=span_id).order_by("time", "pk"))


# --- Dashboard: sessions, users, tools, models ---


@dataclass(frozen=True)
class SessionRow:
    """A session's runs in the range, added up. One user or agent is named (the last in
    alphabetical order) so a session with exactly one can show it."""

    session_id: str
    runs: int
    failed_runs: int
    cost_usd: Decimal | None
    unpriced_calls: int
    first_activity: datetime
    last_activity: datetime
    users: int
    user_id: str
    agents: int
    agent_name: str


@dataclass(frozen=True)
class SessionPage:
    sessions: list[SessionRow]
    has_next: bool


def sessions_page(
    project: Project,
    span: TimeRange,
    *,
    search: str = "",
    size: int,
    after: tuple[datetime, str] | None = None,
) -> SessionPage:
    """Sessions with runs that started in the range, last active first: one GROUP BY over the
    range's runs (run_project_start), paged by keyset on (last activity, session id), so a
    later page costs what the first does."""
    runs = Run.objects.filter(project=project, start_time__gte=span.since, start_time__lt=span.until)
    runs = runs.exclude(session_id="")
    if search:
        runs = runs.filter(session_id__icontains=search)
    groups = (
        runs.values("session_id")
        .order_by()
        .annotate(
            n_runs=Count("pk"),
            n_failed=Count("pk", filter=Q(status=Run.Status.ERROR)),
            total_cost=Sum("cost_usd"),
            n_unpriced=Sum("unpriced_calls"),
            first=Min("start_time"),
            last=Max("end_time"),
            n_users=Count("user_id", distinct=True, filter=~Q(user_id="")),
            a_user=Max("user_id"),
            n_agents=Count("agent_name", distinct=True, filter=~Q(agent_name="")),
            an_agent=Max("agent_name"),
        )
    )
    if after is not None:
        last, session_id = after
        groups = groups.filter(Q(last__lt=last) | Q(last=last, session_id__lt=session_id))
    rows = list(groups.order_by("-last", "-session_id")[: size + 1])
    sessions = [
        SessionRow(
            session_id=r["session_id"],
            runs=r["n_runs"],
            failed_runs=r["n_failed"],
            cost_usd=r["total_cost"],
            unpriced_calls=r["n_unpriced"] or 0,
            first_activity=r["first"],
            last_activity=r["last"],
            users=r["n_users"],
            user_id=r["a_user"] or "",
            agents=r["n_agents"],
            agent_name=r["an_agent"] or "",
        )
        for r in rows[:size]
    ]
    return SessionPage(sessions, has_next=len(rows) > size)


@dataclass(frozen=True)
class SessionTotals:
    """A session over all time (how many runs, from when to when) and within the range."""

    runs: int
    first_activity: datetime | None
    last_activity: datetime | None
    runs_in_range: int
    failed_in_range: int
    cost_in_range: Decimal | None
    unpriced_in_range: int
    tokens_in_range: int


def session_totals(project: Project, session_id: str, span: TimeRange) -> SessionTotals:
    """One aggregate over the session's runs: the whole session, and the part in the range."""
    in_range = Q(start_time__gte=span.since, start_time__lt=span.until)
    totals = Run.objects.filter(project=project, session_id=session_id).aggregate(
        n_runs=Count("pk"),
        first=Min("start_time"),
        last=Max("end_time"),
        n_in_range=Count("pk", filter=in_range),
        n_failed=Count("pk", filter=in_range & Q(status=Run.Status.ERROR)),
        total_cost=Sum("cost_usd", filter=in_range),
        n_unpriced=Sum("unpriced_calls", filter=in_range),
        tokens=Sum(F("input_tokens") + F("output_tokens"), filter=in_range),
    )
    return SessionTotals(
        runs=totals["n_runs"],
        first_activity=totals["first"],
        last_activity=totals["last"],
        runs_in_range=totals["n_in_range"],
        failed_in_range=totals["n_failed"],
        cost_in_range=totals["total_cost"],
        unpriced_in_range=totals["n_unpriced"] or 0,
        tokens_in_range=totals["tokens"] or 0,
    )


# What a conversation view needs of each run (its input and output included).
_SESSION_RUN_FIELDS = (
    "trace_id", "name", "agent_name", "user_id", "status", "error_message", "start_time", "end_time",
    "duration_ms", "llm_calls", "tool_calls", "tool_errors", "input_tokens", "output_tokens", "cost_usd",
    "unpriced_calls", "input", "output",
)  # fmt: skip


def session_runs(project: Project, session_id: str, span: TimeRange, *, limit: int) -> list[Run]:
    """The session's runs in the range, oldest first (a conversation reads top down); at most
    `limit` + 1, so the caller can tell there are more."""
    runs = Run.objects.filter(
        project=project, session_id=session_id, start_time__gte=span.since, start_time__lt=span.until
    )
    return list(runs.only(*_SESSION_RUN_FIELDS).order_by("start_time", "pk")[: limit + 1])


_RUN_LIST_DEFERRED = ("input", "output", "tags")


def user_recent_runs(project: Project, user_id: str, span: TimeRange, *, limit: int) -> list[Run]:
    """The user's newest runs in the range (without their payloads)."""
    runs = runs_for_project(project, span=span, user=user_id).defer(*_RUN_LIST_DEFERRED)
    return list(runs.order_by("-start_time", "-pk")[:limit])


def users_last_activity(project: Project, span: TimeRange, user_ids: list[str]) -> dict[str, datetime]:
    """When each of these users' last run in the range ended (one grouped query)."""
    runs = Run.objects.filter(
        project=project, start_time__gte=span.since, start_time__lt=span.until, user_id__in=user_ids
    )
    return {r["user_id"]: r["last"] for r in runs.values("user_id").order_by().annotate(last=Max("end_time"))}


@dataclass(frozen=True)
class SpanPage:
    spans: list[Span]
    has_next: bool


_FAILURE_FIELDS = (
    "trace_id", "span_id", "name", "display_name", "tool_name", "agent_name", "start_time", "duration_ms",
    "error_type", "error_message",
)  # fmt: skip


def tool_failures_page(
    project: Project,
    tool_name: str,
    span: TimeRange,
    *,
    size: int,
    after: tuple[datetime, int] | None = None,
) -> SpanPage:
    """The tool's failed calls that started in the range, newest first, paged by keyset on
    (start time, id) over span_project_kind_start. A tool span without a tool name is counted
    under its span name (as the rollups do), so it is found the same way."""
    spans = Span.objects.filter(
        Q(tool_name=tool_name) | Q(tool_name="", name=tool_name),
        project=project,
        kind="tool",
        is_error=True,
        start_time__gte=span.since,
        start_time__lt=span.until,
    )
    if after is not None:
        start, pk = after
        spans = spans.filter(Q(start_time__lte=start) & (Q(start_time__lt=start) | Q(start_time=start, pk__lt=pk)))
    rows = list(spans.only(*_FAILURE_FIELDS).order_by("-start_time", "-pk")[: size + 1])
    return SpanPage(rows[:size], has_next=len(rows) > size)


def unpriced_models(project: Project, span: TimeRange) -> list[dict[str, Any]]:
    """Models whose calls in the range could not be priced (no price book entry, no override),
    per model and provider, most calls first. The model is the name pricing looks up (the
    response model, else the request model); calls without any token count are left out, since
    no price could apply to them."""
    calls = Span.objects.filter(
        Q(input_tokens__gt=0) | Q(output_tokens__gt=0),
        project=project,
        kind__in=("llm", "embedding"),
        cost_source=Span.CostSource.UNPRICED,
        start_time__gte=span.since,
        start_time__lt=span.until,
    )
    grouped = (
        calls.annotate(model=Coalesce(NullIf("response_model", Value("")), "request_model"))
        .values("model", "provider")
        .order_by()
        .annotate(calls=Count("pk"), first=Min("start_time"), last=Max("start_time"))
        .order_by("-calls", "model", "provider")
    )
    return [dict(row) for row in grouped]
