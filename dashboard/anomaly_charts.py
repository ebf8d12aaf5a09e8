"""Pure: a judged anomaly series (budgets.anomalies.Detection) -> Plotly figure dict: the series,
the baseline band it was judged against, and the flagged hours. Same conventions as charts.py."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import plotly.graph_objects as go

from budgets.anomalies.detection import Detection, MetricSpec
from dashboard.charts import _local, _plain

_MARGIN = {"l": 56, "r": 12, "t": 12, "b": 36}
_HOVER = {"usd": "%{y:$,.2f}", "ratio": "%{y:.1%}", "ms": "%{y:,.0f} ms", "tokens": "%{y:,.0f}", "count": "%{y:,.0f}",
          "score": "%{y:.2f}"}  # fmt: skip


def anomaly_chart(detection: Detection, spec: MetricSpec, tz: tzinfo) -> dict[str, Any]:
    """Band (shaded, from low to high), expected line, observed line and red flagged markers."""
    judged = detection.judged
    banded = [j for j in judged if j.band is not None]
    hover = _HOVER.get(spec.unit, "%{y}")
    fig = go.Figure()
    band_x = _local([j.point.hour for j in banded], tz)
    fig.add_scatter(
        x=band_x,
        y=[j.band.high for j in banded if j.band],
        name="band high",
        mode="lines",
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
    )
    fig.add_scatter(
        x=band_x,
        y=[j.band.low for j in banded if j.band],
        name="expected band",
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(99, 110, 250, 0.18)",
        hovertemplate=hover + "<extra>band low</extra>",
    )
    fig.add_scatter(
        x=band_x,
        y=[j.band.expected for j in banded if j.band],
        name="expected",
        mode="lines",
        line={"dash": "dot", "width": 1},
        hovertemplate=hover + "<extra>expected</extra>",
    )
    fig.add_scatter(
        x=_local([j.point.hour for j in judged], tz),
        y=[j.point.value for j in judged],
        name=spec.label,
        mode="lines+markers",
        marker={"size": 4},
        hovertemplate=hover + f"<extra>{spec.label}</extra>",
    )
    flagged = [j for j in judged if j.flagged]
    fig.add_scatter(
        x=_local([j.point.hour for j in flagged], tz),
        y=[j.point.value for j in flagged],
        name="anomaly",
        mode="markers",
        marker={"color": "#d62728", "size": 10, "symbol": "circle-open", "line": {"width": 2}},
        hovertemplate=hover + "<extra>anomaly</extra>",
    )
    fig.update_layout(
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.15},
        yaxis={"rangemode": "tozero", "tickformat": ".0%" if spec.unit == "ratio" else None},
        xaxis={"type": "date"},
    )
    return _plain(fig)
