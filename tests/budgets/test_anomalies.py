"""Detection on synthetic series: daily seasonality, noise (fixed seeds) and injected incidents."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.test import SimpleTestCase

from budgets.anomalies.detection import METRICS, Detection, Point, detect

HOUR = timedelta(hours=1)
START = datetime(2026, 3, 1, tzinfo=UTC)
UTC_TZ = ZoneInfo("UTC")


def season(hour: datetime, tz: ZoneInfo = UTC_TZ) -> float:
    """1.0 on average: busy local afternoons, quiet nights."""
    return 1 + 0.6 * math.sin(2 * math.pi * (hour.astimezone(tz).hour - 8) / 24)


def series(
    metric: str,
    days: int,
    *,
    seed: int = 7,
    start: datetime = START,
    inject: Callable[[int, float], float] | None = None,
    tz: ZoneInfo = UTC_TZ,
) -> list[Point]:
    """Hourly points of a realistic shape for the metric; inject(i, value) may alter point i."""
    rng = np.random.default_rng(seed)
    points = []
    for i in range(days * 24):
        hour = start + i * HOUR
        s = season(hour, tz)
        volume = max(1.0, round(60 * s + rng.normal(0, 4)))
        if metric == "cost":
            value = 2.0 * s * (1 + rng.normal(0, 0.06))
        elif metric == "runs":
            value = volume
        elif metric == "latency_p95":
            value = 4000 * (1 + rng.normal(0, 0.05))
        elif metric == "tokens_per_run":
            value = 1500 * (1 + rng.normal(0, 0.05))
        else:  # failure_rate, tool_error_rate: binomial on the volume
            value = rng.binomial(int(volume), 0.03) / volume
        if inject is not None:
            value = inject(i, value)
        points.append(Point(hour, float(value), volume))
    return points


def run(metric: str, points: list[Point], tz: ZoneInfo = UTC_TZ, **kwargs: object) -> Detection:
    return detect(points, tz, METRICS[metric], **kwargs)  # type: ignore[arg-type]


SPIKE = 7 * 24 + 14  # day 8, 14:00 UTC


class DetectionTests(SimpleTestCase):
    def test_cost_spike_is_flagged_in_its_hour(self) -> None:
        points = series("cost", 8, inject=lambda i, v: v * 4 if i == SPIKE else v)
        anomalies = run("cost", points).anomalies
        assert [a.point.hour for a in anomalies] == [START + SPIKE * HOUR]
        band = anomalies[0].band
        assert band is not None and not band.fallback
        assert band.low < 2.0 * season(START + SPIKE * HOUR) < band.high < anomalies[0].point.value

    def test_latency_step_is_flagged_once_sustained_for_two_hours(self) -> None:
        points = series("latency_p95", 8, inject=lambda i, v: v * 2 if i >= SPIKE else v)
        detection = run("latency_p95", points)
        flagged = [a.point.hour for a in detection.anomalies]
        assert flagged[0] == START + (SPIKE + 1) * HOUR  # the second hour in a row out of band
        assert all(j.outside for j in detection.judged if j.point.hour >= START + SPIKE * HOUR)
        assert detection.active and not detection.recovered

    def test_tool_error_burst_is_flagged_in_its_hour(self) -> None:
        points = series("tool_error_rate", 8, inject=lambda i, v: 0.4 if i == SPIKE else v)
        assert [a.point.hour for a in run("tool_error_rate", points).anomalies] == [START + SPIKE * HOUR]

    def test_recovery_when_the_latest_bucket_is_back_in_band(self) -> None:
        points = series("cost", 8, inject=lambda i, v: v * 4 if i == SPIKE else v)[: SPIKE + 2]
        detection = run("cost", points)
        assert detection.anomalies and detection.recovered and not detection.active

    def test_two_weeks_without_incidents_produce_no_anomaly(self) -> None:
        for metric in METRICS:
            for seed in (1, 2, 3):
                with self.subTest(metric=metric, seed=seed):
                    assert run(metric, series(metric, 15, seed=seed)).anomalies == []

    def test_one_outlier_in_the_baseline_week_does_not_mask_a_later_spike(self) -> None:
        outlier = 3 * 24 + 14  # same hour, day 4: a huge one-off
        points = series("cost", 8, inject=lambda i, v: v * 30 if i == outlier else v * 4 if i == SPIKE else v)
        flagged = [a.point.hour for a in run("cost", points).anomalies]
        assert START + SPIKE * HOUR in flagged

    def test_low_volume_rates_never_alert(self) -> None:
        points = series("failure_rate", 8)
        points[SPIKE] = Point(points[SPIKE].hour, 1.0, 3)  # every one of 3 runs failed
        assert run("failure_rate", points).anomalies == []
        points[SPIKE] = Point(points[SPIKE].hour, 1.0, 30)
        assert [a.point.hour for a in run("failure_rate", points).anomalies] == [points[SPIKE].hour]

    def test_tiny_absolute_changes_never_alert(self) -> None:
        cheap = [Point(p.hour, p.value / 1000, p.volume) for p in series("cost", 8)]
        cheap[SPIKE] = Point(cheap[SPIKE].hour, cheap[SPIKE].value * 20, cheap[SPIKE].volume)  # still cents
        assert run("cost", cheap).anomalies == []

    def test_cold_start_judges_from_24_hours_with_a_wider_band(self) -> None:
        spike = 24 + 14  # the second day's afternoon
        points = series("cost", 2, inject=lambda i, v: v * 6 if i == spike else v)[:40]
        detection = run("cost", points)
        assert all(j.band is None for j in detection.judged if j.point.hour < START + 24 * HOUR)
        assert [a.point.hour for a in detection.anomalies] == [START + spike * HOUR]
        assert detection.anomalies[0].band is not None and detection.anomalies[0].band.fallback
        assert run("cost", series("cost", 2)[:40]).anomalies == []

    def test_under_24_hours_of_history_is_never_judged(self) -> None:
        points = series("cost", 1, inject=lambda i, v: v * 10 if i == 20 else v)
        assert run("cost", points).anomalies == []

    def test_daylight_saving_changes_do_not_alert(self) -> None:
        cases = [
            ("Europe/Paris", datetime(2026, 10, 18, tzinfo=UTC)),  # clocks go back on Oct 25
            ("America/New_York", datetime(2026, 3, 1, tzinfo=UTC)),  # clocks go forward on Mar 8
        ]
        for name, start in cases:
            tz = ZoneInfo(name)
            for metric in ("cost", "runs"):
                with self.subTest(tz=name, metric=metric):
                    points = series(metric, 14, start=start, tz=tz)
                    assert run(metric, points, tz).anomalies == []
            # Judged by UTC hour instead, the same traffic would alert after the change.
            assert run("cost", series("cost", 14, start=start, tz=tz), UTC_TZ).anomalies != []

    def test_since_limits_the_judged_points(self) -> None:
        points = series("cost", 8)
        detection = run("cost", points, since=points[-3].hour)
        assert [j.point.hour for j in detection.judged] == [p.hour for p in points[-3:]]


def busy_weekends(i: int, value: float, start: datetime = START) -> float:
    """Three times the weekday traffic on Saturdays and Sundays."""
    return value * 3 if (start + i * HOUR).weekday() >= 5 else value


class DayOfWeekTests(SimpleTestCase):
    """Once four weeks of history exist, each weekday is also compared with its own past weeks."""

    LAST_WEEK = START + timedelta(days=28)

    def test_weekends_busier_than_weekdays_alert_only_without_weekly_history(self) -> None:
        points = series("cost", 35, inject=busy_weekends)
        assert run("cost", points, since=self.LAST_WEEK).anomalies == []
        # With the 7-day window alone, every weekend afternoon looks like a spike.
        last_eight_days = [p for p in points if p.hour >= self.LAST_WEEK - timedelta(days=1)]
        flagged = run("cost", last_eight_days, since=self.LAST_WEEK).anomalies
        assert flagged and {a.point.hour.weekday() for a in flagged} <= {5, 6}

    def test_a_spike_above_its_own_weekday_is_still_flagged(self) -> None:
        saturday_afternoon = 34 * 24 + 14  # day 34 (a Saturday), 14:00
        assert (START + saturday_afternoon * HOUR).weekday() == 5
        points = series("cost", 35, inject=lambda i, v: busy_weekends(i, v) * (3 if i == saturday_afternoon else 1))
        flagged = [a.point.hour for a in run("cost", points, since=self.LAST_WEEK).anomalies]
        assert flagged == [START + saturday_afternoon * HOUR]

    def test_weeks_of_steady_traffic_stay_quiet_for_every_metric(self) -> None:
        for metric in METRICS:
            with self.subTest(metric=metric):
                assert run(metric, series(metric, 35, seed=11), since=self.LAST_WEEK).anomalies == []
