"""What every transport raises when a notice could not be delivered, and how long to wait before
trying again. The outbox reads only these: `permanent` disables the destination (it will never
accept anything: a deleted webhook, a refused recipient), anything else is retried with backoff,
never sooner than `retry_after` seconds when the receiver said so."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime


class NotifyError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """A Retry-After header in whole seconds (rounded up): a number of seconds or an HTTP date;
    None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        pass
    else:
        return max(math.ceil(seconds), 0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(math.ceil((when - (now or datetime.now(UTC))).total_seconds()), 0)
