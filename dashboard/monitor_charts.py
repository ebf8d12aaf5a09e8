"""Pure: a monitor's metric minute by minute (budgets.monitors.selectors.MonitorChart) -> Plotly
figure dict: one line per scope value, the warning and critical thresholds as horizontal lines,
and the spans its incidents were open shaded. Same conventions as charts.py."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import plotly.graph_objects as go

from budgets import messages
from budgets.monitors.selectors import MonitorChart
from dashboard.charts import _local, _plain

_MARGIN = {"l": 56, "r": 12, "t": 12, "b": 36}
_HOVER = {"usd": "%{y:$,.4f}", "ratio": "%{y:.2%}", "ms": "%{y:,.0f} ms", "tokens": "%{y:,.0f} tokens",
          "calls": "%{y:,.1f} calls", "count": "%{y:,.0f}", "score": "%{y:.3f}"}  # fmt: skip
_COLOURS = {"critical": "#d62728", "warning": "#ff9f1c"}
_SHADES = {"critical": "rgba(214, 39, 40, 0.12)", "warning": "rgba(255, 159, 28, 0.14)"}


def monitor_chart(chart: MonitorChart, tz: tzinfo) -> dict[str, Any]:
    """Lines per scope value (gaps where a minute had nothing), dashed threshold lines across the
    whole span, and a shaded band per incident from its opening to its resolution (or now)."""
    hover = _HOVER.get(chart.unit, "%{y}")
    fig = go.Figure()
    for value, points in chart.series.items():
        name = value or chart.label
        fig.add_scatter(
            x=_local([minute for minute, _ in points], tz),
            y=[None if v is None else float(v) for _, v in points],
            name=name,
            mode="lines+markers",
            marker={"size": 5},
            connectgaps=False,
            hovertemplate=hover + f"<extra>{name}</extra>",
        )
    span = _local([chart.since, chart.until], tz)
    for level, threshold in (("warning", chart.warning), ("critical", chart.critical)):
        if threshold is None:
            continue
        fig.add_scatter(
            x=span,
            y=[float(threshold)] * 2,
            name=f"{level}: {chart.comparison} {messages.monitor_value(chart.unit, threshold)}",
            mode="lines",
            line={"color": _COLOURS[level], "dash": "dash", "width": 1.5},
            hoverinfo="skip",
            meta={"threshold": level},
        )
    for start, end, level in chart.incidents:
        x0, x1 = _local([start, end], tz)
        fig.add_vrect(x0=x0, x1=x1, fillcolor=_SHADES[level], line_width=0, layer="below", name=f"{level} incident")
    fig.update_layout(
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        yaxis={"rangemode": "tozero", "tickformat": ".1%" if chart.unit == "ratio" else None},
        xaxis={"type": "date", "range": span},
    )
    return _plain(fig)
