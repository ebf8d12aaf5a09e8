"""The Retry-After header as a wait in seconds, for every client that honours it (the judge
calls, the alert transports)."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
