"""Query ranges: calendar days in the project's zone, as UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ingest import timeranges
from ingest.timeranges import RangeError, TimeRange

LA = ZoneInfo("America/Los_Angeles")
PARIS = ZoneInfo("Europe/Paris")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_yesterday_in_los_angeles_just_after_local_midnight():
    now = utc(2026, 11, 23, 8, 30)  # 00:30 on Nov 23 in Los Angeles (UTC-8)
    assert timeranges.resolve("yesterday", None, LA, now) == TimeRange(utc(2026, 11, 22, 8), utc(2026, 11, 23, 8))


def test_yesterday_in_los_angeles_just_before_local_midnight():
    now = utc(2026, 11, 23, 7, 59)  # 23:59 on Nov 22 in Los Angeles
    assert timeranges.resolve("yesterday", None, LA, now) == TimeRange(utc(2026, 11, 21, 8), utc(2026, 11, 22, 8))


def test_today_is_the_whole_local_day():
    now = utc(2026, 11, 23, 8, 30)
    assert timeranges.resolve("today", None, LA, now) == TimeRange(utc(2026, 11, 23, 8), utc(2026, 11, 24, 8))


def test_seven_and_thirty_days_include_today():
    now = utc(2026, 11, 23, 12)
    assert timeranges.resolve("7d", None, UTC, now) == TimeRange(utc(2026, 11, 17), utc(2026, 11, 24))
    assert timeranges.resolve("30d", None, UTC, now) == TimeRange(utc(2026, 10, 25), utc(2026, 11, 24))


def test_a_day_across_a_daylight_saving_change_has_its_real_length():
    now = utc(2026, 3, 9, 12)  # Los Angeles moved to UTC-7 on Sunday March 8
    span = timeranges.resolve("yesterday", None, LA, now)
    assert span == TimeRange(utc(2026, 3, 8, 8), utc(2026, 3, 9, 7))
    assert (span.until - span.since).total_seconds() == 23 * 3600


def test_since_and_until_take_the_start_and_end_of_named_ranges():
    now = utc(2026, 11, 23, 12)
    assert timeranges.resolve("yesterday", "today", PARIS, now) == TimeRange(
        utc(2026, 11, 21, 23), utc(2026, 11, 23, 23)
    )
    assert timeranges.resolve("2026-11-01", "2026-11-02", UTC, now) == TimeRange(utc(2026, 11, 1), utc(2026, 11, 3))


def test_iso_timestamps_are_instants_and_naive_ones_are_local():
    now = utc(2026, 11, 23, 12)
    assert timeranges.resolve("2026-11-20T10:00:00Z", None, LA, now) == TimeRange(utc(2026, 11, 20, 10), now)
    assert timeranges.resolve("2026-11-20T10:00:00", "2026-11-20T20:00:00+00:00", LA, now) == TimeRange(
        utc(2026, 11, 20, 18), utc(2026, 11, 20, 20)
    )


def test_a_plus_sign_decoded_as_a_space_from_a_query_string_still_parses():
    now = utc(2026, 11, 23, 12)
    span = timeranges.resolve("2026-11-20T10:00:00 02:00", None, UTC, now)
    assert span.since == utc(2026, 11, 20, 8)


def test_default_range_is_the_last_seven_days():
    now = utc(2026, 11, 23, 12)
    assert timeranges.resolve(None, None, UTC, now) == TimeRange(utc(2026, 11, 17), utc(2026, 11, 24))
    assert timeranges.resolve(None, None, UTC, now, default_since=None) is None


@pytest.mark.parametrize(
    ("since", "until", "param"),
    [("last week", None, "since"), ("today", "soon", "until"), ("today", "yesterday", "until"), ("0d", None, "since")],
)
def test_bad_values_name_the_parameter(since, until, param):
    with pytest.raises(RangeError) as caught:
        timeranges.resolve(since, until, UTC, utc(2026, 11, 23, 12))
    assert caught.value.param == param


def test_hour_and_day_buckets():
    moment = utc(2026, 11, 23, 10, 15)
    assert timeranges.floor_hour(moment) == utc(2026, 11, 23, 10)
    assert timeranges.ceil_hour(moment) == utc(2026, 11, 23, 11)
    assert timeranges.ceil_hour(utc(2026, 11, 23, 10)) == utc(2026, 11, 23, 10)
    assert timeranges.floor_day(moment) == utc(2026, 11, 23)
    assert timeranges.ceil_day(moment) == utc(2026, 11, 24)
    assert timeranges.hours(utc(2026, 11, 23, 22, 30), utc(2026, 11, 24, 1)) == [
        utc(2026, 11, 23, 22),
        utc(2026, 11, 23, 23),
        utc(2026, 11, 24, 0),
    ]
    assert timeranges.local_days(utc(2026, 11, 22, 8), utc(2026, 11, 24, 8), LA) == [
        utc(2026, 11, 22, 8),
        utc(2026, 11, 23, 8),
    ]
