"""Coercion of raw attribute values: every reader degrades odd input to "not present".

Exporters send counts as strings ("150") or doubles (150.0), truncate JSON, double-encode
it, and sometimes send nonsense. Each function here returns None (or an empty container)
for anything it cannot read honestly, so the normalizer never raises on a span.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

# Larger values are garbage: a token count must fit a BIGINT column, one span costs less than this.
MAX_COUNT = 2**63 - 1
MAX_COST = Decimal(10**9)


def as_count(value: Any) -> int | None:
    """A token count from an int, float or numeric string (`int(float(x))`); None if negative or garbage."""
    number: int | None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = _whole(value)
    elif isinstance(value, str):
        number = _count_from_text(value.strip())
    else:
        return None
    if number is None or number < 0 or number > MAX_COUNT:
        return None
    return number


def _count_from_text(text: str) -> int | None:
    """Digits parse exactly; anything else goes through float so "150.0" and "1e3" work."""
    if text.isdigit():
        return int(text) if len(text) <= 19 else None
    try:
        return _whole(float(text))
    except ValueError:
        return None


def _whole(number: float) -> int | None:
    return int(number) if math.isfinite(number) else None


def as_cost(value: Any) -> Decimal | None:
    """A USD amount as Decimal via `Decimal(str(x))` (never through float arithmetic)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_COST:
        return None
    return amount


def as_text(value: Any) -> str | None:
    """A non-empty identifier or label: stripped strings, and ints (user ids are often numbers)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_flag(value: Any) -> bool:
    """True for a boolean true or the string "true" (any case), as Langfuse sends both."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def decode_json(value: Any) -> Any:
    """Parse JSON strings, twice when double-encoded; keep text that is not JSON as it is.

    Truncated JSON (attribute length limits) is normal, so a failed parse is not an error.
    """
    if not isinstance(value, str):
        return value
    decoded = _loads(value)
    if isinstance(decoded, str):
        decoded = _loads(decoded)
    return decoded


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def as_payload(value: Any) -> Any:
    """A tool argument or result: decoded JSON or raw value; None when empty."""
    if value is None or value == "":
        return None
    return decode_json(value)


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object given either as a decoded dict or a JSON string; {} otherwise."""
    decoded = decode_json(value)
    return decoded if isinstance(decoded, dict) else {}


def as_tags(value: Any) -> list[str] | None:
    """Tags from a list, a JSON-array string or a comma-separated string; order kept, no duplicates."""
    decoded = decode_json(value)
    if isinstance(decoded, str):
        items: list[Any] = decoded.split(",")
    elif isinstance(decoded, list | tuple):
        items = list(decoded)
    else:
        return None
    tags = [text for item in items if (text := as_text(item))]
    return list(dict.fromkeys(tags)) or None


def as_first_text(value: Any) -> str | None:
    """The first usable string of a string[] (finish reasons), a JSON-array string or a plain string."""
    decoded = decode_json(value)
    if isinstance(decoded, list | tuple):
        return next((text for item in decoded if (text := as_text(item))), None)
    return as_text(decoded)
