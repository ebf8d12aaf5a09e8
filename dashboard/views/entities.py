"""Sessions, users, tools and models: the runs seen by conversation, by end user, by tool
called and by model used, each listed over the range with a page of its own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import Truncator
from django.views.decorators.http import require_GET

from aggregates import selectors as aggregate_selectors
from dashboard import charts, cursors
from dashboard.views.common import HtmxHttpRequest, project_page, query_string
from ingest import selectors
from ingest.models import Run

SESSIONS_PER_PAGE = 50
SESSION_RUNS = 200  # a longer conversation shows its first 200 runs in the range
USERS_PER_PAGE = 100
RECENT_RUNS = 20
FAILURES_PER_PAGE = 25
GIST_CHARS = 280
USER_METRICS = (("cost", "Cost"), ("runs", "Runs"), ("errors", "Failed runs"))
TOOL_METRICS = (("calls", "Calls"), ("errors", "Errors"))
MODEL_STACKS = (("model", "Model"), ("provider", "Provider"))
NOT_CALLED = {"tool_calls": 0, "tool_errors": 0, "tool_error_rate": None}  # a tool absent before


# --- Sessions ------------------------------------------------------------------------------


@require_GET
@login_required
def sessions(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    search = request.GET.get("q", "").strip()
    after = _session_key(request.GET.get("cursor", ""))
    listing = selectors.sessions_page(page.project, page.range, search=search, size=SESSIONS_PER_PAGE, after=after)
    rows = listing.sessions
    context: dict[str, Any] = {
        **page.context(),
        "section": "sessions",
        "sessions": rows,
        "q": search,
        "next_cursor": cursors.encode([rows[-1].last_activity.isoformat(), rows[-1].session_id])
        if listing.has_next
        else "",
        "paged": after is not None,
        "partial": request.htmx.target == "session-list",
    }
    if not rows and after is None and not search:
        context["no_runs_at_all"] = not selectors.project_has_runs(page.project)
    template = "dashboard/sessions.html"
    if context["partial"]:
        template += "#session-list"
    return render(request, template, context)


@dataclass(frozen=True)
class Turn:
    """One run of a conversation, with the gist of what was asked and answered."""

    run: Run
    asked: str
    answered: str


@require_GET
@login_required
def session(request: HtmxHttpRequest, org: str, slug: str, session_id: str) -> HttpResponse:
    """The session's runs in the range, oldest first, so it reads as the conversation it was."""
    page = project_page(request, org, slug)
    totals = selectors.session_totals(page.project, session_id, page.range)
    if not totals.runs:
        raise Http404("no such session in this project")
    runs = selectors.session_runs(page.project, session_id, page.range, limit=SESSION_RUNS)
    whole = {}
    if totals.runs_in_range < totals.runs and totals.first_activity and totals.last_activity:
        whole = {
            "since": totals.first_activity.astimezone(page.tz).date().isoformat(),
            "until": totals.last_activity.astimezone(page.tz).date().isoformat(),
        }
    context = {
        **page.context(),
        "section": "sessions",
        "session_id": session_id,
        "totals": totals,
        "turns": [Turn(r, gist(r.input, answer=False), gist(r.output, answer=True)) for r in runs[:SESSION_RUNS]],
        "more_runs": len(runs) > SESSION_RUNS,
        "whole_session": whole,
    }
    return render(request, "dashboard/session.html", context)


def gist(value: Any, *, answer: bool) -> str:
    """A run's input or output as one short line of text. In the normalized message shape
    (ingest/conventions/messages.py) that is the text of the last user message (the turn's
    question: earlier ones repeat the history) or of the last assistant message (the answer);
    a string is itself; a mapping is its one obvious text field, else compact JSON."""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and isinstance(m.get("parts"), list) for m in value)
    ):
        role = "assistant" if answer else "user"
        chosen = next((m for m in reversed(value) if m.get("role") == role), value[-1])
        text = " ".join(t for t in (_part_text(p) for p in chosen["parts"]) if t)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict) and (found := _text_field(value)) is not None:
        text = found
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, TypeError, RecursionError):
            text = "(not shown)"
    return Truncator(" ".join(text.split())).chars(GIST_CHARS)


_TEXT_FIELDS = ("content", "text", "message", "question", "query", "input", "answer", "output", "result")


def _text_field(value: dict[str, Any]) -> str | None:
    for name in _TEXT_FIELDS:
        if isinstance(value.get(name), str):
            return str(value[name])
    return None


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("type")
    if kind == "text":
        return str(part.get("content") or "")
    if kind == "tool_call":
        return f"[calls {part.get('name') or 'a tool'}]"
    if kind == "tool_call_response":
        return "[tool result]"
    if kind in ("blob", "uri", "file"):
        return f"[{part.get('modality') or 'file'}]"
    return ""


# --- Users ---------------------------------------------------------------------------------


@require_GET
@login_required
def users(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    """End users by cost (runs per user rollup), searchable; last activity for the page shown."""
    page = project_page(request, org, slug)
    search = request.GET.get("q", "").strip()
    number = _page_number(request)
    rows = aggregate_selectors.summary(page.project, page.range, group_by="user")["rows"]
    if search:
        rows = [r for r in rows if search.casefold() in (r["group"] or "").casefold()]
    shown = rows[(number - 1) * USERS_PER_PAGE : number * USERS_PER_PAGE]
    last = selectors.users_last_activity(page.project, page.range, [r["group"] or "" for r in shown])
    for row in shown:
        row["last_activity"] = last.get(row["group"] or "")
    context: dict[str, Any] = {
        **page.context(),
        "section": "users",
        "users": shown,
        "user_count": len(rows),
        "q": search,
        "page_number": number,
        "next_page": number + 1 if len(rows) > number * USERS_PER_PAGE else None,
        "previous_page": number - 1 if number > 1 else None,
        "partial": request.htmx.target == "user-list",
    }
    if not rows and not search:
        context["no_runs_at_all"] = not selectors.project_has_runs(page.project)
    template = "dashboard/users.html"
    if context["partial"]:
        template += "#user-list"
    return render(request, template, context)


@require_GET
@login_required
def user(request: HtmxHttpRequest, org: str, slug: str, user_id: str) -> HttpResponse:
    page = project_page(request, org, slug)
    metric = request.GET.get("metric", "cost")
    if metric not in dict(USER_METRICS):
        metric = "cost"
    only_user = {"user": user_id}
    series = aggregate_selectors.timeseries(
        page.project, page.range, metric=metric, interval=page.interval, group_by="agent", filters=only_user, tz=page.tz
    )
    context: dict[str, Any] = {
        **page.context(),
        "section": "users",
        "user_id": user_id,
        "metric": metric,
        "metric_label": dict(USER_METRICS)[metric],
        "metrics": USER_METRICS,
        "chart": charts.stacked_bars(series, page.tz, money=metric == "cost"),
    }
    if request.htmx.target == "user-chart":
        return render(request, "dashboard/user.html#user-chart", context)
    by_agent = aggregate_selectors.summary(page.project, page.range, group_by="agent", filters=only_user)
    in_range = query_string(since=page.since or None, until=page.until or None, user=user_id)
    context.update(
        totals=by_agent["total"],
        before=aggregate_selectors.summary(page.project, page.previous, filters=only_user)["total"],
        agents=by_agent["rows"],
        runs=selectors.user_recent_runs(page.project, user_id, page.range, limit=RECENT_RUNS),
        cost_url=reverse("cost", args=[org, slug]) + in_range,
        runs_url=reverse("runs", args=[org, slug]) + in_range,
    )
    return render(request, "dashboard/user.html", context)


# --- Tools ---------------------------------------------------------------------------------


@require_GET
@login_required
def tools(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    """Every tool's calls and errors, failing tools first, with the change vs the previous period."""
    page = project_page(request, org, slug)
    metric = "errors" if request.GET.get("metric") == "errors" else "calls"
    if metric == "calls":
        series = aggregate_selectors.tool_calls_series(page.project, page.range, interval=page.interval, tz=page.tz)
    else:
        series = aggregate_selectors.timeseries(
            page.project, page.range, metric="errors", interval=page.interval, group_by="tool", tz=page.tz
        )
    context: dict[str, Any] = {
        **page.context(),
        "section": "tools",
        "metric": metric,
        "metric_label": dict(TOOL_METRICS)[metric],
        "metrics": TOOL_METRICS,
        "chart": charts.stacked_bars(series, page.tz),
    }
    if request.htmx.target == "tools-chart":
        return render(request, "dashboard/tools.html#tools-chart", context)
    if not selectors.project_has_runs(page.project):
        return render(request, "dashboard/tools.html", {**context, "empty": True})
    summary = aggregate_selectors.summary(page.project, page.range, group_by="tool")
    before = {r["group"]: r for r in aggregate_selectors.summary(page.project, page.previous, group_by="tool")["rows"]}
    rows = summary["rows"]
    for row in rows:
        row["before"] = before.get(row["group"], NOT_CALLED)
    rows.sort(key=lambda r: (-r["tool_errors"], -r["tool_calls"], str(r["group"])))
    context.update(tools=rows, total=summary["total"])
    return render(request, "dashboard/tools.html", context)


@require_GET
@login_required
def tool(request: HtmxHttpRequest, org: str, slug: str, tool_name: str) -> HttpResponse:
    """One tool: calls and errors over time, latency, the agents calling it and its failures."""
    page = project_page(request, org, slug)
    after = _span_key(request.GET.get("cursor", ""))
    failures = selectors.tool_failures_page(page.project, tool_name, page.range, size=FAILURES_PER_PAGE, after=after)
    spans = failures.spans
    context: dict[str, Any] = {
        **page.context(),
        "section": "tools",
        "tool_name": tool_name,
        "failures": spans,
        "next_cursor": cursors.encode([spans[-1].start_time.isoformat(), spans[-1].pk]) if failures.has_next else "",
        "paged": after is not None,
    }
    if request.htmx.target == "tool-failures":
        return render(request, "dashboard/tool.html#tool-failures", context)
    only_tool = {"tool": tool_name}
    by_agent = aggregate_selectors.summary(page.project, page.range, group_by="agent", filters=only_tool)
    calls = aggregate_selectors.tool_calls_series(
        page.project, page.range, interval=page.interval, tool=tool_name, tz=page.tz
    )
    errors = aggregate_selectors.timeseries(
        page.project, page.range, metric="errors", interval=page.interval, filters=only_tool, tz=page.tz
    )
    latency = aggregate_selectors.timeseries(
        page.project, page.range, metric="p95_latency", interval=page.interval, filters=only_tool, tz=page.tz
    )
    latency["series"] = [{**s, "group": "p95"} for s in latency["series"]]
    context.update(
        totals=by_agent["total"],
        before=aggregate_selectors.summary(page.project, page.previous, filters=only_tool)["total"],
        agents=by_agent["rows"],
        chart=charts.calls_and_errors(calls, errors, page.tz),
        latency_chart=charts.lines(latency, page.tz, unit=" ms"),
    )
    return render(request, "dashboard/tool.html", context)


# --- Models --------------------------------------------------------------------------------


@require_GET
@login_required
def models(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    """Traffic, cost and latency per model and provider, and the models nothing could price."""
    page = project_page(request, org, slug)
    stack = "provider" if request.GET.get("stack") == "provider" else "model"
    series = aggregate_selectors.timeseries(
        page.project, page.range, metric="cost", interval=page.interval, group_by=stack, tz=page.tz
    )
    context: dict[str, Any] = {
        **page.context(),
        "section": "models",
        "stack": stack,
        "stacks": MODEL_STACKS,
        "chart": charts.stacked_bars(series, page.tz, money=True),
    }
    if request.htmx.target == "models-chart":
        return render(request, "dashboard/models.html#models-chart", context)
    if not selectors.project_has_runs(page.project):
        return render(request, "dashboard/models.html", {**context, "empty": True})
    by_model = aggregate_selectors.summary(page.project, page.range, group_by="model")
    providers = aggregate_selectors.summary(page.project, page.range, group_by="provider")["rows"]
    for row in by_model["rows"]:
        row["cost_per_1k"] = _per_thousand(row["cost_usd"], row["llm_calls"] - row["unpriced_calls"])
    can_price = getattr(request.user, "is_staff", False) and request.user.has_perm("ingest.add_priceoverride")
    unpriced = selectors.unpriced_models(page.project, page.range)
    if can_price:
        add = reverse("admin:pricing_priceoverride_add")
        for row in unpriced:
            query = query_string(project=page.project.pk, model_pattern=row["model"], provider=row["provider"])
            row["override_url"] = add + query
    context.update(
        models=by_model["rows"],
        total=by_model["total"],
        providers=providers,
        model_cost_chart=charts.share(by_model["rows"], "cost_usd", money=True),
        provider_calls_chart=charts.share(providers, "llm_calls"),
        unpriced=unpriced,
        can_price=can_price,
    )
    return render(request, "dashboard/models.html", context)


def _per_thousand(cost: Decimal | None, priced_calls: int) -> Decimal | None:
    """Cost of a thousand calls at the average of the priced ones (None when none was priced:
    unpriced calls would only pull the average towards zero)."""
    if cost is None or priced_calls <= 0:
        return None
    return cost * 1000 / priced_calls


# --- Query string helpers ------------------------------------------------------------------


def _decode_cursor(token: str) -> tuple[datetime, Any] | None:
    """The (time, tie-breaker) key a cursor carries; None for a missing or tampered one, which
    means the first page."""
    key = cursors.decode(token)
    if key is None:
        return None
    try:
        moment = datetime.fromisoformat(key[0])
        tie = key[1]
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    if moment.tzinfo is None or len(key) != 2:
        return None
    return moment, tie


def _session_key(token: str) -> tuple[datetime, str] | None:
    key = _decode_cursor(token)
    return (key[0], key[1]) if key is not None and isinstance(key[1], str) else None


def _span_key(token: str) -> tuple[datetime, int] | None:
    key = _decode_cursor(token)
    if key is None or not isinstance(key[1], int) or isinstance(key[1], bool):
        return None
    return key[0], key[1]


def _page_number(request: HtmxHttpRequest) -> int:
    """The page asked for, 1 by default. It travels as `cursor`, which the range picker drops:
    a new range starts from the first page."""
    try:
        return max(1, int(request.GET.get("cursor", "1")))
    except ValueError:
        return 1
