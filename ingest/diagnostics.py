"""Intake diagnostics (reads): what sends to a project, and why a number may look wrong.

Which libraries and scopes send (with version, spans, last seen); the attribute keys no
convention rule read; spans whose token counts contradict each other; usage repeated on a
parent span (kept, not counted twice); reported costs the price book disagrees with; models the
price book does not know. Each finding comes with an example span to open.

Over a time range of span start times, which the spans' (project, kind, start) index serves. The
per-key and per-warning counts read the newest SAMPLE spans that have any, so the page stays
fast on a busy project; `sampled` says how many were read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.db.models.fields.json import KeyTextTransform

from ingest.conventions.usage import WARNINGS
from ingest.models import Span
from ingest.records import SpanKind
from ingest.timeranges import TimeRange
from tenancy.models import Project

SAMPLE = 5000


@dataclass(frozen=True)
class SpanRef:
    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Sender:
    scope: str  # instrumentation scope (library) name; "" when the exporter sent none
    version: str
    sdk: str  # the OpenTelemetry SDK, e.g. "python 1.45.1"
    spans: int
    last_seen: datetime


@dataclass(frozen=True)
class Finding:
    """A key, warning or model with how many spans show it and one of them."""

    name: str
    text: str
    spans: int
    example: SpanRef


@dataclass(frozen=True)
class CostDisagreement:
    model: str
    spans: int
    reported_usd: Decimal
    computed_usd: Decimal
    example: SpanRef


@dataclass(frozen=True)
class Diagnostics:
    senders: list[Sender]
    unmapped_keys: list[Finding]
    usage_warnings: list[Finding]
    cost_disagreements: list[CostDisagreement]
    unpriced_models: list[Finding]
    sampled: int  # spans read for the key and warning counts (at most SAMPLE each)


def diagnostics(project: Project, span: TimeRange) -> Diagnostics:
    spans = Span.objects.filter(project=project, start_time__gte=span.since, start_time__lt=span.until)
    unmapped_rows = list(
        spans.exclude(unmapped=[]).order_by("-start_time").values_list("trace_id", "span_id", "unmapped")[:SAMPLE]
    )
    warning_rows = list(
        spans.exclude(usage_warnings=[])
        .order_by("-start_time")
        .values_list("trace_id", "span_id", "usage_warnings")[:SAMPLE]
    )
    return Diagnostics(
        senders=_senders(spans),
        unmapped_keys=_count_lists(unmapped_rows, lambda key: "read by no rule"),
        usage_warnings=_count_lists(warning_rows, lambda code: WARNINGS.get(code, code)) + _repeated_usage(spans),
        cost_disagreements=_cost_disagreements(spans),
        unpriced_models=_unpriced(spans),
        sampled=max(len(unmapped_rows), len(warning_rows)),
    )


def _senders(spans: Any) -> list[Sender]:
    rows = (
        spans.annotate(
            language=KeyTextTransform("telemetry.sdk.language", "resource"),
            sdk_version=KeyTextTransform("telemetry.sdk.version", "resource"),
        )
        .values("scope_name", "scope_version", "language", "sdk_version")
        .annotate(spans=Count("pk"), last_seen=Max("start_time"))
        .order_by("-spans", "scope_name")
    )
    return [
        Sender(
            scope=row["scope_name"],
            version=row["scope_version"],
            sdk=" ".join(part for part in (row["language"], row["sdk_version"]) if part),
            spans=row["spans"],
            last_seen=row["last_seen"],
        )
        for row in rows
    ]


def _count_lists(rows: list[tuple[str, str, Any]], text: Any) -> list[Finding]:
    """Per list item (an unmapped key, a warning code): in how many of the rows, and the newest one."""
    counts: Counter[str] = Counter()
    examples: dict[str, SpanRef] = {}
    for trace_id, span_id, items in rows:
        for item in items if isinstance(items, list) else []:
            counts[str(item)] += 1
            examples.setdefault(str(item), SpanRef(trace_id, span_id))
    return [Finding(name, text(name), n, examples[name]) for name, n in counts.most_common()]


def _repeated_usage(spans: Any) -> list[Finding]:
    """Agent, chain or root spans that repeat their children's usage: shown, never counted twice."""
    repeated = spans.filter(aggregated_usage=True, counts_usage=False)
    example = repeated.order_by("-start_time").values_list("trace_id", "span_id").first()
    if example is None:
        return []
    text = "usage repeated on a parent span (counted once, on its calls)"
    return [Finding("usage_on_parent", text, repeated.count(), SpanRef(*example))]


def _cost_disagreements(spans: Any) -> list[CostDisagreement]:
    rows = (
        spans.filter(cost_discrepancy__isnull=False)
        .values("request_model")
        .annotate(n=Count("pk"), reported=Sum("reported_cost"), computed=Sum("computed_cost"))
        .order_by("-n")
    )
    found = []
    for row in rows:
        example = (
            spans.filter(cost_discrepancy__isnull=False, request_model=row["request_model"])
            .order_by("-start_time")
            .values_list("trace_id", "span_id")
            .first()
        )
        if example is not None:
            found.append(CostDisagreement(row["request_model"], row["n"], row["reported"] or Decimal(0),
                                          row["computed"] or Decimal(0), SpanRef(*example)))  # fmt: skip
    return found


def _unpriced(spans: Any) -> list[Finding]:
    """Calls with tokens that neither the price book nor an override priced."""
    unpriced = spans.filter(kind__in=[SpanKind.LLM, SpanKind.EMBEDDING], cost_source="unpriced").filter(
        Q(input_tokens__isnull=False) | Q(output_tokens__isnull=False)
    )
    rows = unpriced.values("provider", "request_model").annotate(n=Count("pk")).order_by("-n")
    found = []
    for row in rows:
        example = (
            unpriced.filter(provider=row["provider"], request_model=row["request_model"])
            .order_by("-start_time")
            .values_list("trace_id", "span_id")
            .first()
        )
        if example is not None:
            name = row["request_model"] or "(no model)"
            text = f"{row['provider'] or 'unknown provider'}: not in the price book; add a price override"
            found.append(Finding(name, text, row["n"], SpanRef(*example)))
    return found
