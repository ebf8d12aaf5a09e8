"""Pure: anomaly detection on an hourly series against a robust 7-day baseline.

Agents are non-deterministic, so a static threshold either pages all night or misses the
incident. Each hour is compared with the same local hour of the previous 7 days (local, so a
daylight-saving change keeps 9:00 aligned with 9:00): the band is median ± k·sigma where sigma
is the MAD scaled by 1.4826, which one outlier cannot drag. With fewer than 3 same-hour points
(the second day of history) the whole previous window is the baseline, with a wider band.

Day of week, once enough history exists: when the same local hour on the same weekday has at
least 3 points in the previous 4 weeks (the caller passes those few older hours along), a
weekly band is built from them too, and a point alerts only if it is above both bands. So a
weekend that is always busier than weekdays never alerts, while a spike above its own weekday
still does; the weekly band can only explain a point away, never raise an alert on its own.

Three guards keep it quiet: a per-metric absolute floor and relative floor on the band's
half-width (a flat series or a tiny change never alerts), a minimum volume (a rate on three
calls never alerts, and is not used as a baseline either) and a number of consecutive buckets
the excursion must last. Only the bad direction alerts: up for cost, runs, failures, latency and
tokens; down for scores (a pass rate or mean score that drops). A score rule may instead set a
static floor ("pass rate below 90%"), judged on every hour with enough volume, from the first.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

MAD_SCALE = 1.4826  # MAD * this estimates the standard deviation of normal noise
MIN_SAME_HOUR = 3  # fewer same-hour points than this: fall back to the whole window
MIN_SAME_WEEKDAY = 3  # same weekday-and-hour points needed for the weekly band
WEEKLY_WEEKS = 4
FALLBACK_WIDEN = 2.0  # k is multiplied by this on the fallback baseline
BASELINE_DAYS = 7
MIN_HISTORY = timedelta(hours=24)  # no verdict before this much history
HOUR = timedelta(hours=1)
MIN_RATE = 0.05  # a rate's sampling noise is computed as if it were at least this


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is judged: its floors, volume guard and default persistence."""

    name: str
    label: str
    unit: str  # "usd", "count", "ratio", "ms", "tokens"
    floor: float  # the band's half-width is at least this (absolute)
    relative_floor: float  # ... and at least this fraction of the median
    min_volume: float  # buckets with fewer runs/calls are not judged nor used as baseline
    sustained: int  # consecutive out-of-band buckets needed
    direction: str = "up"  # the bad direction: "up" or "down"


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("cost", "Cost per hour", "usd", 0.5, 0.25, 0, 1),
        MetricSpec("runs", "Runs per hour", "count", 10, 0.25, 0, 2),
        MetricSpec("failure_rate", "Run failure rate", "ratio", 0.1, 0.0, 10, 1),
        MetricSpec("latency_p95", "p95 run latency", "ms", 500, 0.25, 5, 2),
        MetricSpec("tokens_per_run", "Tokens per run", "tokens", 200, 0.25, 5, 2),
        MetricSpec("tool_error_rate", "Tool error rate", "ratio", 0.1, 0.0, 10, 1),
        MetricSpec("score_pass_rate", "Score pass rate", "ratio", 0.1, 0.0, 10, 1, "down"),
        MetricSpec("score_mean", "Score mean", "score", 0.5, 0.1, 10, 2, "down"),
    )
}


def series_name(metric: str, score_name: str = "") -> str:
    """The key of a series family: the metric, or for a score metric the metric and the score."""
    return f"{metric}:{score_name}" if score_name else metric


@dataclass(frozen=True, slots=True)
class Point:
    hour: datetime  # aware UTC start of the bucket
    value: float
    volume: float  # runs (or tool calls) behind the value


@dataclass(frozen=True, slots=True)
class Band:
    expected: float  # the baseline median
    low: float
    high: float
    fallback: bool  # built from the whole window (cold start), hence wider


@dataclass(frozen=True, slots=True)
class Judged:
    point: Point
    band: Band | None  # None: not enough history or volume to judge
    outside: bool  # beyond the band in the bad direction
    flagged: bool  # outside for `sustained` buckets in a row, ending here


@dataclass(frozen=True)
class Detection:
    judged: list[Judged]  # the evaluated points, oldest first

    @property
    def anomalies(self) -> list[Judged]:
        return [j for j in self.judged if j.flagged]

    @property
    def latest(self) -> Judged | None:
        judged = [j for j in self.judged if j.band is not None]
        return judged[-1] if judged else None

    @property
    def active(self) -> bool:
        """The latest judged bucket is (still) a sustained anomaly."""
        latest = self.latest
        return latest is not None and latest.flagged

    @property
    def recovered(self) -> bool:
        """The latest judged bucket is back inside the band."""
        latest = self.latest
        return latest is not None and not latest.outside


@functools.lru_cache(maxsize=8192)
def local_hour(hour: datetime, tz: tzinfo) -> int:
    """Hour of day in the zone; cached, since every series of a project shares its hours."""
    return hour.astimezone(tz).hour


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def baseline(values: Sequence[float], spec: MetricSpec, k: float, *, fallback: bool, volume: float = 0) -> Band:
    """Median ± k robust sigmas, never narrower than the metric's floors. A rate also gets its
    own sampling noise at this bucket's volume (binomial), so 5 errors in 30 calls on a 3%
    baseline is not an incident."""
    expected = _median(values)
    sigma = MAD_SCALE * _median([abs(v - expected) for v in values])
    k = k * (FALLBACK_WIDEN if fallback else 1.0)
    width = max(k * sigma, spec.floor, spec.relative_floor * abs(expected))
    if spec.unit == "ratio" and volume > 0:
        p = min(max(expected, MIN_RATE), 1 - MIN_RATE)
        width += k * math.sqrt(p * (1 - p) / volume)
    return Band(expected, max(expected - width, 0.0), expected + width, fallback)


def detect(
    series: Sequence[Point],
    tz: tzinfo,
    spec: MetricSpec,
    *,
    k: float = 3.0,
    sustained: int | None = None,
    min_volume: float | None = None,
    since: datetime | None = None,
    floor: float | None = None,
) -> Detection:
    """Judge every point from `since` (default: all) against the 7 days before it, or against
    a static `floor` (alert below it) when one is given."""
    sustained = spec.sustained if sustained is None else sustained
    min_volume = spec.min_volume if min_volume is None else min_volume
    usable = sorted((p for p in series if p.volume >= min_volume), key=lambda p: p.hour)
    if not usable:
        return Detection([])
    first = usable[0].hour
    by_local_hour: dict[int, list[Point]] = defaultdict(list)
    for p in usable:
        by_local_hour[local_hour(p.hour, tz)].append(p)
    # The 7-day window holds each hour of the last 7 days; older points are only the weekly baseline's.
    judged: list[Judged] = []
    run = 0
    for i, p in enumerate(usable):
        if since is not None and p.hour < since:
            continue
        if floor is not None:
            band: Band | None = Band(floor, floor, floor, fallback=False)
            outside = p.value < floor
        else:
            band = _band_for(p, i, usable, by_local_hour, tz, spec, k, first)
            if band is not None:
                band = _with_weekly(band, p, by_local_hour, tz, spec, k)
            outside = band is not None and (p.value < band.low if spec.direction == "down" else p.value > band.high)
        run = run + 1 if outside else 0
        judged.append(Judged(p, band, outside, run >= max(sustained, 1)))
    return Detection(judged)


def _with_weekly(
    band: Band, p: Point, by_local_hour: dict[int, list[Point]], tz: tzinfo, spec: MetricSpec, k: float
) -> Band:
    """The hourly band widened to cover the weekly one, when there is enough weekly history."""
    local = p.hour.astimezone(tz)
    oldest = p.hour - timedelta(weeks=WEEKLY_WEEKS, hours=2)
    same = [
        q.value
        for q in by_local_hour[local.hour]
        if oldest <= q.hour <= p.hour - timedelta(days=6, hours=22)
        and q.hour.astimezone(tz).weekday() == local.weekday()
    ]
    if len(same) < MIN_SAME_WEEKDAY:
        return band
    weekly = baseline(same, spec, k, fallback=False, volume=p.volume)
    return Band(band.expected, min(band.low, weekly.low), max(band.high, weekly.high), band.fallback)


def _band_for(
    p: Point,
    index: int,
    usable: Sequence[Point],
    by_local_hour: dict[int, list[Point]],
    tz: tzinfo,
    spec: MetricSpec,
    k: float,
    first: datetime,
) -> Band | None:
    if p.hour - first < MIN_HISTORY:
        return None
    window_start = p.hour - timedelta(days=BASELINE_DAYS, hours=1)
    # Same local hour on the previous days: 23 to 169 hours back (DST makes a day 23 or 25 h).
    same = [
        q.value for q in by_local_hour[local_hour(p.hour, tz)] if window_start <= q.hour <= p.hour - timedelta(hours=22)
    ]
    if len(same) >= MIN_SAME_HOUR:
        return baseline(same, spec, k, fallback=False, volume=p.volume)
    whole = [q.value for q in usable[max(0, index - 24 * BASELINE_DAYS - 2) : index] if q.hour >= window_start]
    return baseline(whole, spec, k, fallback=True, volume=p.volume) if whole else None
