"""Runs list (filter, search, sort, keyset pages) and run detail (span tree beside a waterfall,
and the panel of one span: its chat, tool arguments, errors, tokens and where its cost came from)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape  # the stdlib's: Django's lazy-aware wrapper costs 3x on 2,000 rows
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from aggregates import selectors as aggregate_selectors
from dashboard import cursors
from dashboard.templatetags.dashboard_tags import duration, tokens, usd
from dashboard.views.common import HtmxHttpRequest, Page, project_page, query_string
from dashboard.views.run_scores import scores_context
from ingest import selectors
from ingest.conventions.genai import guardrail_tripped
from ingest.models import Run, Span
from scores import selectors as score_selectors
from tenancy.models import Project

PAGE_SIZE = 50
SORTS = (("newest", "Newest first"), ("oldest", "Oldest first"), ("cost", "Most expensive"), ("duration", "Slowest"))
TEXT_FILTERS = ("agent", "model", "user", "session")
FILTER_PARAMS = (*TEXT_FILTERS, "status", "min_cost", "min_seconds", "score", "result", "score_below", "q")
SCORE_RESULTS = (("", "any"), ("pass", "passed"), ("fail", "failed"))


# --- Runs list -----------------------------------------------------------------------------


@require_GET
@login_required
def runs(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    filters, errors = _run_filters(request)
    sort = request.GET.get("sort", "newest")
    if sort not in selectors.RUN_SORTS:
        sort = "newest"
    query = request.GET.get("q", "").strip()
    found = selectors.search_runs(selectors.runs_for_project(page.project, span=page.range, **filters), query)
    scored, score_errors = _score_filter(request, page)
    if scored is not None:
        found = found.filter(trace_id__in=scored)
    errors += score_errors
    direction, key = _decode_cursor(request.GET.get("cursor", ""), sort)
    listing = selectors.runs_page(
        found,
        sort=sort,
        size=PAGE_SIZE,
        after=key if direction == "next" else None,
        before=key if direction == "previous" else None,
    )
    rows = listing.runs
    run_scores = score_selectors.scores_of_runs(page.project, [run.trace_id for run in rows])
    for run in rows:  # their scores are shown under their names
        run.scores = run_scores.get(run.trace_id, [])  # type: ignore[attr-defined]
    partial = request.htmx.target == "run-list"  # the filter form, the pager: only the list
    context: dict[str, Any] = {
        **page.context(),
        "section": "runs",
        "runs": rows,
        "sort": sort,
        "sorts": SORTS,
        "q": query,
        "form": {name: request.GET.get(name, "").strip() for name in FILTER_PARAMS},
        "filtered": bool(filters or query),
        "filter_errors": errors,
        "choices": {}
        if partial
        else {
            **aggregate_selectors.run_filter_choices(page.project),
            "scores": score_selectors.score_names(page.project),
        },
        "score_results": SCORE_RESULTS,
        "next_cursor": _encode_cursor("next", rows[-1], sort) if rows and listing.has_next else "",
        "previous_cursor": _encode_cursor("previous", rows[0], sort) if rows and listing.has_previous else "",
        "clear_url": query_string(request.GET, **dict.fromkeys((*FILTER_PARAMS, "cursor"))),
        "partial": partial,
    }
    if not rows and direction is None:
        context["no_runs_at_all"] = not selectors.project_has_runs(page.project)
    template = "dashboard/runs.html"
    if partial:
        template += "#run-list"
    return render(request, template, context)


def _score_filter(request: HtmxHttpRequest, page: Page) -> tuple[QuerySet[Any] | None, list[str]]:
    """Runs with the named score (passed, failed, or below a value); None: no score filter."""
    name = request.GET.get("score", "").strip()
    below_text = request.GET.get("score_below", "").strip()
    below = _number(below_text)
    if below is None:
        return None, ["Score below must be a number, such as 0.5."]
    if not name:
        return None, []
    result = request.GET.get("result", "")
    return score_selectors.traces_with_score(
        page.project, name, result=result if result in dict(SCORE_RESULTS) else "",
        below=float(below) if below_text else None,
    ), []  # fmt: skip


def _run_filters(request: HtmxHttpRequest) -> tuple[dict[str, Any], list[str]]:
    """The filters runs_for_project understands, from the form; blank fields mean "any"."""
    filters: dict[str, Any] = {name: value for name in TEXT_FILTERS if (value := request.GET.get(name, "").strip())}
    errors = []
    if request.GET.get("status") in Run.Status.values:
        filters["status"] = request.GET["status"]
    min_cost = _number(request.GET.get("min_cost", "").strip().lstrip("$"))
    if min_cost is None:
        errors.append("Min cost must be an amount in dollars, such as 0.05.")
    elif min_cost >= 0 and request.GET.get("min_cost", "").strip():
        filters["min_cost"] = min_cost
    min_seconds = _number(request.GET.get("min_seconds", "").strip())
    if min_seconds is None:
        errors.append("Min duration must be a number of seconds, such as 2.5.")
    elif min_seconds > 0:
        filters["min_duration"] = float(min_seconds) * 1000
    return filters, errors


def _number(text: str) -> Decimal | None:
    """The number typed (0 when blank), None when it is not one."""
    if not text:
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _encode_cursor(direction: str, run: Run, sort: str) -> str:
    value, pk = selectors.run_sort_key(run, sort)
    if isinstance(value, datetime):
        value = value.isoformat()
    elif value is not None:
        value = str(value) if isinstance(value, Decimal) else repr(value)
    return cursors.encode({"d": direction, "s": sort, "v": value, "k": pk})


def _decode_cursor(token: str, sort: str) -> tuple[str | None, tuple[Any, int] | None]:
    """(direction, key) of a cursor from this sort's links; (None, None) for none or a bad one."""
    data = cursors.decode(token)
    if data is None:
        return None, None
    try:
        if data["s"] != sort or data["d"] not in ("next", "previous") or not isinstance(data["k"], int):
            return None, None
        raw = data["v"]
        field_name, _ = selectors.RUN_SORTS[sort]
        value: Any = None
        if field_name == "start_time":
            value = datetime.fromisoformat(raw)
        elif raw is not None and field_name == "cost_usd":
            value = Decimal(raw)
        elif field_name == "duration_ms":
            value = float(raw)
            if not math.isfinite(value):
                return None, None
    except (ValueError, TypeError, KeyError, InvalidOperation):
        return None, None
    return data["d"], (value, data["k"])


# --- Run detail ----------------------------------------------------------------------------

MAX_NESTING = 16  # tree levels drawn nested and indented; deeper spans line up at this depth
KIND_LABELS = {
    "llm": "LLM",
    "embedding": "Embed",
    "tool": "Tool",
    "agent": "Agent",
    "chain": "Chain",
    "retriever": "Retrieve",
    "reranker": "Rerank",
    "guardrail": "Guard",
    "evaluator": "Eval",
    "handoff": "Handoff",
}
# The four kind colours of app.css
KIND_COLOURS = {
    "llm": "llm",
    "embedding": "llm",
    "tool": "tool",
    "retriever": "tool",
    "agent": "agent",
    "chain": "agent",
}
IO_TITLES = {"llm": ("Prompt", "Completion"), "tool": ("Arguments", "Result")}
MAX_SHOWN_CHARS = 200_000  # of one formatted value in the panel


@dataclass
class TreeRow:
    """One span of the flattened tree: its depth, the <details> it opens or closes, its bar."""

    span: Any  # a selectors.span_outline() row
    depth: int
    indent: int
    offset: str  # % of the run from its start
    width: str  # % of the run
    kind_label: str
    colour: str
    opens: bool = False
    closes: int = 0  # </details> before this row


@require_GET
@login_required
def run_detail(request: HtmxHttpRequest, org: str, slug: str, trace_id: str) -> HttpResponse:
    page = project_page(request, org, slug)
    trace_id = _hex_id(trace_id, 32)
    run = selectors.run_for_project(page.project, trace_id) if trace_id else None
    if run is None:
        raise Http404("no such run in this project")
    wanted = _hex_id(request.GET.get("span", ""), 16)
    context: dict[str, Any] = {**page.context(), "section": "runs", "run": run, "asked_span": "span" in request.GET}
    if request.htmx.target == "span-panel":  # only the panel: no tree
        span = selectors.run_span(page.project, run.trace_id, wanted) if wanted else None
        context["panel"] = _panel(page.project, run, span) if span else None
        return render(request, "dashboard/run_detail.html#span-panel", context)

    spans = selectors.span_outline(page.project, run.trace_id)
    rows, closes, scale = _tree_rows(spans, run)
    if not wanted and run.status == Run.Status.ERROR:
        wanted = _first_failure(spans)
    span = selectors.run_span(page.project, run.trace_id, wanted) if wanted else None
    context.update(
        tree=rows,
        tree_html=_tree_html(rows, closes),
        scale=scale,
        panel=_panel(page.project, run, span) if span else None,
        **scores_context(request, page, run),
    )
    return render(request, "dashboard/run_detail.html", context)


def _hex_id(value: str, length: int) -> str:
    """An OTel id as stored (lowercase hex; a UUID's dashes dropped), or "" if it is not one."""
    lowered = value.strip().lower()
    if len(lowered) == length + 4 and length == 32:
        lowered = lowered.replace("-", "")
    if len(lowered) == length and all(c in "0123456789abcdef" for c in lowered):
        return lowered
    return ""


def _tree_rows(spans: list[Any], run: Run) -> tuple[list[TreeRow], int, list[str]]:
    """The span tree flattened depth-first without recursion (a malformed trace can nest
    thousands deep or loop), each row knowing how many <details> to close before it and whether
    it opens one; plus the closes left at the end and the time axis labels."""
    start = min([run.start_time, *(s.start_time for s in spans)])
    end = max([run.end_time, *(s.end_time for s in spans)])
    total_ms = max((end - start) / timedelta(milliseconds=1), 0.001)

    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[Any]] = {}
    roots = []
    for s in spans:  # in start order, so children are too
        if s.parent_span_id in by_id and s.parent_span_id != s.span_id:
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    ordered: list[tuple[Any, int]] = []
    seen: set[str] = set()
    for top in [*roots, *spans]:  # then spans only reachable through a parent cycle
        stack = [(top, 0)]
        while stack:
            s, depth = stack.pop()
            if s.span_id in seen:
                continue
            seen.add(s.span_id)
            ordered.append((s, depth))
            stack.extend((c, depth + 1) for c in reversed(children.get(s.span_id, [])))

    rows = []
    open_depths: list[int] = []
    for i, (s, depth) in enumerate(ordered):
        closes = 0
        while open_depths and open_depths[-1] >= depth:
            open_depths.pop()
            closes += 1
        has_children = i + 1 < len(ordered) and ordered[i + 1][1] > depth
        opens = has_children and depth < MAX_NESTING
        if opens:
            open_depths.append(depth)
        offset = (s.start_time - start) / timedelta(milliseconds=1) / total_ms * 100
        width = max(s.duration_ms / total_ms * 100, 0.0)
        rows.append(
            TreeRow(
                span=s,
                depth=depth,
                indent=min(depth, MAX_NESTING),
                offset=f"{min(offset, 100.0):.3f}",
                width=f"{min(width, 100.0 - min(offset, 100.0)):.3f}",
                kind_label=KIND_LABELS.get(s.kind, s.kind.title() or "Span"),
                colour=KIND_COLOURS.get(s.kind, "other"),
                opens=opens,
                closes=closes,
            )
        )
    scale = [f"{total_ms * i / 4:.0f}" for i in range(5)]
    return rows, len(open_depths), scale


_UNPRICED = '<span class="badge warning">unpriced</span>'
_ERROR = ' <span class="badge error">error</span>'


def _tree_html(rows: list[TreeRow], final_closes: int) -> SafeString:
    """The tree rows as HTML: nested <details open> (folding without JavaScript) for spans with
    children down to MAX_NESTING, a plain row otherwise.

    Built here rather than in a template loop because Django's engine needs ~200 ms for 2,000
    rows and this ~10 ms. Every value that comes from a span goes through escape()."""
    out = []
    for row in rows:
        s = row.span
        failed = " failed" if s.is_error else ""
        flags = _ERROR if s.is_error else ""
        if s.guardrail_verdict:
            badge = "error" if guardrail_tripped(s.guardrail_verdict) else "neutral"
            flags += f' <span class="badge {badge}" title="guardrail verdict">{escape(s.guardrail_verdict)}</span>'
        if s.mcp_server:
            flags += f' <span class="muted">on MCP server {escape(s.mcp_server)}</span>'
        if row.depth != row.indent:
            flags += f' <span class="muted">depth {row.depth:d}</span>'
        counted = s.input_tokens is not None or s.output_tokens is not None
        usage = escape(f"{tokens(s.input_tokens)} / {tokens(s.output_tokens)}") if counted else ""
        if s.cost_source == Span.CostSource.UNPRICED:
            cost = _UNPRICED
        else:
            cost = escape(usd(s.cost_usd)) if s.cost_usd is not None else ""
        span_id, colour = escape(s.span_id), escape(row.colour)
        out.append(
            "</details>" * row.closes
            + (f'<details open><summary class="span-row{failed}">' if row.opens else f'<div class="span-row{failed}">')
            + f'<span class="span-label" style="--indent:{row.indent:d}"><span class="twisty" aria-hidden="true"></span>'
            f'<span class="kind {colour}">{escape(row.kind_label)}</span> '
            f'<a href="?span={span_id}" hx-get="?span={span_id}">{escape(s.display_name or s.name)}</a>{flags}</span>'
            f'<span class="num">{escape(duration(s.duration_ms))}</span>'
            f'<span class="num{" muted" if s.aggregated_usage else ""}">{usage}</span><span class="num">{cost}</span>'
            f'<span class="track"><span class="bar {colour}{failed}" '
            f'style="margin-left:{escape(row.offset)}%;width:{escape(row.width)}%"></span></span>'
            + ("</summary>\n" if row.opens else "</div>\n")
        )
    out.append("</details>" * final_closes)
    return SafeString("".join(out))


def _first_failure(spans: list[Any]) -> str:
    """The earliest failed span none of whose children failed: where the failure began."""
    failed = [s for s in spans if s.is_error]
    failed_parents = {s.parent_span_id for s in failed}
    for s in failed:
        if s.span_id not in failed_parents:
            return str(s.span_id)
    return str(failed[0].span_id) if failed else ""


# --- Span panel ----------------------------------------------------------------------------


def _panel(project: Project, run: Run, span: Span) -> dict[str, Any]:
    """Everything the panel shows of one span, formatted here so the template only prints text."""
    exceptions, other_events = [], []
    for event in span.events if isinstance(span.events, list) else []:
        if not isinstance(event, dict):
            continue
        found = event.get("attributes")
        details: dict[str, Any] = found if isinstance(found, dict) else {}
        if event.get("name") == "exception":
            exceptions.append(
                {
                    "type": _text(details.get("exception.type", "")),
                    "message": _text(details.get("exception.message", "")),
                    "stacktrace": _text(details.get("exception.stacktrace", "")),
                }
            )
        else:
            other_events.append({"name": _text(event.get("name", "")), "attributes": _pretty(details)})
    attributes = span.attributes if isinstance(span.attributes, dict) else {}
    unmapped = span.unmapped if isinstance(span.unmapped, list) else []
    logs = selectors.span_log_records(project, run.trace_id, span.span_id)
    return {
        "span": span,
        "kind_label": KIND_LABELS.get(span.kind, span.kind.title() or "Span"),
        "colour": KIND_COLOURS.get(span.kind, "other"),
        "offset_ms": (span.start_time - run.start_time) / timedelta(milliseconds=1),
        "io": list(
            zip(
                IO_TITLES.get(span.kind, ("Input", "Output")),
                (_io_view(span.input), _io_view(span.output)),
                strict=True,
            )
        ),
        "exceptions": exceptions,
        "events": other_events,
        "attributes": _pretty(attributes) if attributes else "",
        "unmapped": [(_text(key), _pretty(attributes.get(key)) if key in attributes else "") for key in unmapped],
        "logs": [
            {"name": log.name, "time": log.time, "body": _pretty(log.body), "attributes": _pretty(log.attributes)}
            for log in logs
        ],
    }


def _io_view(value: Any) -> dict[str, Any] | None:
    """A chat when the value is messages in the normalized shape (ingest/conventions/messages.py),
    else text, else indented JSON."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, list) and all(isinstance(m, dict) and isinstance(m.get("parts"), list) for m in value):
        return {"chat": [_message_view(m) for m in value]}
    if isinstance(value, str):
        return {"text": _clip(value)}
    return {"json": _pretty(value)}


def _message_view(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": _text(message.get("role") or "unknown"),
        "name": _text(message.get("name") or ""),
        "finish_reason": _text(message.get("finish_reason") or ""),
        "parts": [_part_view(p) for p in message["parts"]],
    }


def _part_view(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        return {"type": "text", "text": _text(part)}
    kind = part.get("type")
    if kind in ("text", "reasoning"):
        return {"type": kind, "text": _text(part.get("content", ""))}
    if kind == "tool_call":
        return {
            "type": kind,
            "name": _text(part.get("name") or ""),
            "id": _text(part.get("id") or ""),
            "json": _pretty(part.get("arguments")),
        }
    if kind == "tool_call_response":
        response = part.get("response")
        shown = {"text": _clip(response)} if isinstance(response, str) else {"json": _pretty(response)}
        return {"type": kind, "id": _text(part.get("id") or ""), **shown}
    if kind in ("blob", "uri", "file"):
        where = part.get("uri") or part.get("file_id") or ""
        return {
            "type": "media",
            "modality": _text(part.get("modality") or "file"),
            "mime_type": _text(part.get("mime_type") or ""),
            "where": _text(where),
        }
    return {"type": "other", "json": _pretty(part)}


def _text(value: Any) -> str:
    return _clip(value if isinstance(value, str) else _pretty(value) if value is not None else "")


def _pretty(value: Any) -> str:
    """Indented JSON (non-ASCII kept), cut at MAX_SHOWN_CHARS; never raises on odd data."""
    try:
        shown = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (RecursionError, ValueError, TypeError):
        try:
            shown = json.dumps(value, ensure_ascii=False, default=str)
        except (RecursionError, ValueError, TypeError):
            shown = "(too deeply nested to show)"
    return _clip(shown)


def _clip(text: str) -> str:
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[:MAX_SHOWN_CHARS]}\n… ({len(text) - MAX_SHOWN_CHARS:,} more characters not shown)"
