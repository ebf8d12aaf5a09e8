"""What every transport raises when a notice could not be delivered, and how long to wait before
trying again. The outbox reads only these: `permanent` disables the destination (it will never
accept anything: a deleted webhook, a refused recipient), anything else is retried with backoff,
never sooner than `retry_after` seconds when the receiver said so."""

from __future__ import annotations

import math
from datetime import datetime

from config.retry_after import retry_after


class NotifyError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """A Retry-After header in whole seconds (rounded up); None if absent or unreadable."""
    seconds = retry_after(value, now)
    return None if seconds is None else math.ceil(seconds)
