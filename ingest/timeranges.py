"""Pure: query time ranges ("today", "yesterday", "7d", "30d", dates, ISO timestamps) as aware
UTC datetimes, with calendar days taken in the project's time zone; and UTC bucket arithmetic.

A named value or a bare date stands for a calendar range: `since` takes its start and `until`
its end, and a missing `until` is the end of the `since` range (so `since=yesterday` is exactly
yesterday, `since=7d` the last seven days including today). An ISO timestamp is an instant
(naive ones are read in the project's zone), and a missing `until` after one is now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NAMED = ("today", "yesterday", "7d", "30d")
DEFAULT_SINCE = "7d"
MAX_DAYS = 3660
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS = re.compile(r"^(\d{1,4})d$")


class RangeError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class TimeRange:
    since: datetime  # inclusive, aware UTC
    until: datetime  # exclusive, aware UTC


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def calendar_range(value: str, tz: tzinfo, now: datetime) -> TimeRange | None:
    """The calendar range a name ("today", "yesterday", "<N>d") or a date stands for, else None."""
    today = now.astimezone(tz).date()
    if value == "today":
        first, days = today, 1
    elif value == "yesterday":
        first, days = today - DAY, 1
    elif match := _DAYS.match(value):
        days = int(match.group(1))
        if not 1 <= days <= MAX_DAYS:
            return None
        first = today - timedelta(days=days - 1)
    else:
        try:
            first, days = date.fromisoformat(value), 1
        except ValueError:
            return None
    return TimeRange(local_midnight(first, tz), local_midnight(first + timedelta(days=days), tz))


def instant(value: str, tz: tzinfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+", 1) if "T" in value else value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def resolve(
    since: str | None,
    until: str | None,
    tz: tzinfo,
    now: datetime,
    *,
    default_since: str | None = DEFAULT_SINCE,
) -> TimeRange | None:
    """The range `since`/`until` ask for; None when both are missing and there is no default."""
    since = since or default_since
    if not since and not until:
        return None
    start, end = EPOCH, now
    if since:
        named = calendar_range(since, tz, now)
        parsed = named.since if named else instant(since, tz)
        if parsed is None:
            raise RangeError("since", _HELP)
        start, end = parsed, (named.until if named else now)
    if until:
        named = calendar_range(until, tz, now)
        parsed = named.until if named else instant(until, tz)
        if parsed is None:
            raise RangeError("until", _HELP)
        end = parsed
    if end <= start:
        raise RangeError("until", "must be after since")
    return TimeRange(start, end)


_HELP = "expected today, yesterday, 7d, 30d (any <N>d), a date (YYYY-MM-DD) or an ISO 8601 timestamp"


# --- UTC buckets ---------------------------------------------------------------------------


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def ceil_day(moment: datetime) -> datetime:
    floored = floor_day(moment)
    return floored if floored == moment else floored + DAY


def hours(since: datetime, until: datetime) -> list[datetime]:
    """Start of every UTC hour bucket that overlaps [since, until)."""
    out, current = [], floor_hour(since)
    while current < until:
        out.append(current)
        current += HOUR
    return out


def local_days(since: datetime, until: datetime, tz: tzinfo) -> list[datetime]:
    """Start (local midnight, as UTC) of every local calendar day that overlaps [since, until)."""
    out, day = [], since.astimezone(tz).date()
    while (start := local_midnight(day, tz)) < until:
        out.append(start)
        day += DAY
    return out
