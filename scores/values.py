"""Pure: a score's value read from what a client or a judge sent (a JSON value, an OTel attribute)."""

from __future__ import annotations

import math
from typing import Any


def score_number(raw: Any) -> float | None:
    """A finite float from a number, a numeric string or a boolean; else None (text that is not a
    number, NaN, infinity, null, a list or an object).

    A boolean is a pass/fail: true counts as 1 (a pass) and false as 0 (a fail), the value a
    boolean score is stored with (Score.DataType.BOOLEAN), never dropped. A caller whose score is
    on a scale where 1 or 0 would not be what a `true` meant refuses booleans before asking."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if not isinstance(raw, int | float | str):
        return None
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):  # not a number; an integer too large for a float
        return None
    return number if math.isfinite(number) else None
