"""Pure: rows from ingest.selectors -> Plotly figure dicts (plain JSON, no numpy types left).
static/js/charts.js draws them and applies the light or dark theme."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

MAX_SERIES = 8  # more groups than this are summed into "other"
_MARGIN = {"l": 48, "r": 12, "t": 12, "b": 36}


def _plain(fig: go.Figure) -> dict[str, Any]:
    return dict(json.loads(fig.to_json()))


def _local(buckets: list[datetime], tz: tzinfo) -> list[str]:
    """Bucket starts as naive local times, so the axis reads in the viewer's zone."""
    return [b.astimezone(tz).replace(tzinfo=None).isoformat() for b in buckets]


def _label(group: Any) -> str:
    return "(none)" if group in (None, "") else str(group)


def _top_series(series: list[dict[str, Any]]) -> list[tuple[str, list[float]]]:
    """The MAX_SERIES largest series by total, the rest summed as "other"."""
    numeric = [(_label(s["group"]), [float(v or 0) for v in s["values"]]) for s in series]
    numeric.sort(key=lambda item: -sum(item[1]))
    top, rest = numeric[:MAX_SERIES], numeric[MAX_SERIES:]
    if rest:
        top.append(("other", [sum(values) for values in zip(*(r[1] for r in rest), strict=True)]))
    return top


def stacked_bars(data: dict[str, Any], tz: tzinfo, *, money: bool = False) -> dict[str, Any]:
    """A selectors.timeseries answer as stacked bars, one colour per group."""
    x = _local(data["buckets"], tz)
    fig = go.Figure()
    for name, values in _top_series(data["series"]):
        fig.add_bar(
            x=x,
            y=values,
            name=name,
            hovertemplate=("%{y:$,.4f}" if money else "%{y:,}") + f"<extra>{name}</extra>",
        )
    fig.update_layout(
        barmode="stack",
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        yaxis={"tickprefix": "$" if money else "", "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return _plain(fig)


def lines(data: dict[str, Any], tz: tzinfo, *, unit: str = "") -> dict[str, Any]:
    """A selectors.timeseries answer as one line per group (gaps where a point is missing)."""
    x = _local(data["buckets"], tz)
    fig = go.Figure()
    for series in data["series"][:MAX_SERIES]:
        name = _label(series["group"])
        values = [None if v is None else float(v) for v in series["values"]]
        fig.add_scatter(x=x, y=values, name=name, mode="lines+markers", connectgaps=False)
    fig.update_layout(
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        yaxis={"ticksuffix": unit, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return _plain(fig)


def share(rows: list[dict[str, Any]], value: str, *, money: bool = False) -> dict[str, Any]:
    """A donut of each group's share of `value` (summary rows)."""
    labels, values = [], []
    for row in rows:
        amount = Decimal(str(row.get(value) or 0))
        if amount > 0:
            labels.append(_label(row["group"]))
            values.append(float(amount))
    fig = go.Figure(
        go.Pie(
            labels=labels,
            values=values,
            hole=0.55,
            sort=False,
            textinfo="percent",
            hovertemplate="%{label}: " + ("%{value:$,.4f}" if money else "%{value:,}") + "<extra></extra>",
        )
    )
    fig.update_layout(margin={"l": 8, "r": 8, "t": 8, "b": 8}, legend={"orientation": "v"})
    return _plain(fig)


def calls_and_errors(calls: dict[str, Any], errors: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Two timeseries answers over the same buckets (calls, and errors among them) as stacked
    bars of the calls that succeeded and those that failed; every group summed."""
    x = _local(calls["buckets"], tz)
    called = [sum(float(s["values"][i] or 0) for s in calls["series"]) for i in range(len(x))]
    failed = [sum(float(s["values"][i] or 0) for s in errors["series"]) for i in range(len(x))]
    fig = go.Figure()
    fig.add_bar(x=x, y=[max(c - f, 0) for c, f in zip(called, failed, strict=True)], name="succeeded")
    fig.add_bar(x=x, y=failed, name="failed", marker={"color": "#d64545"})
    fig.update_layout(
        barmode="stack",
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        yaxis={"rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return _plain(fig)
