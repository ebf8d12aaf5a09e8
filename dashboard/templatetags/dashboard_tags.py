"""Formatting only: money, durations, token counts, percentages and changes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

from budgets import messages

register = template.Library()
MINUS = "\u2212"  # typographic minus, as wide as the plus sign


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def usd(value: Any) -> str:
    """$1,234.56; small amounts keep their significant digits ($0.0042); "—" when unknown."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    if amount == 0:
        return "$0.00"
    if abs(amount) < Decimal("0.01"):
        return f"${amount:.4f}" if abs(amount) >= Decimal("0.0001") else f"${amount:.6f}"
    return f"${amount:,.2f}"


@register.filter
def duration(ms: Any) -> str:
    """340 ms, 1.2 s, 3m 05s, 2h 04m."""
    if ms is None or ms == "":
        return "—"
    value = float(ms)
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def tokens(value: Any) -> str:
    """950, 12.3k, 4.5M."""
    if value is None or value == "":
        return "—"
    count = int(value)
    if abs(count) < 1000:
        return str(count)
    if abs(count) < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """A ratio (0.123) as 12.3%."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


@register.filter
def change(current: Any, previous: Any) -> str:
    """Relative change vs the previous period: +12%, -5% (with a minus sign), "new" when it was zero."""
    now, before = _decimal(current), _decimal(previous)
    if now is None or before is None:
        return ""
    if before == 0:
        return "new" if now else ""
    ratio = (now - before) / abs(before) * 100
    sign = "+" if ratio >= 0 else MINUS
    return f"{sign}{abs(ratio):.0f}%"


@register.filter
def ratio(part: Any, whole: Any) -> float | None:
    """part / whole, None when whole is zero or unknown."""
    numerator, denominator = _decimal(part), _decimal(whole)
    if numerator is None or not denominator:
        return None
    return float(numerator / denominator)


@register.filter
def get(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def metric_value(value: Any, metric: str) -> str:
    """An anomaly metric's value as people read it: $1.23, 12.5%, 1,234 ms, 1,500 tokens."""
    return messages.format_value(metric, _decimal(value))


@register.filter
def monitor_value(value: Any, unit: str) -> str:
    """A monitor's value or threshold in its metric's unit: 1.5%, 5,000 ms, $0.0512, "no data"."""
    return messages.monitor_value(unit, _decimal(value))
