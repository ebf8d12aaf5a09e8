"""Services: judge each project's hourly series against its anomaly rules and write Alert rows
(the budgets outbox delivers them; budgets/messages.py words them).

Runs every few minutes after the rollups and is safe to run twice: an incident is one Alert row
keyed on (rule, agent/tool, first out-of-band hour, kind), inserted with ignore_conflicts; while
it is open (no "recovered" row with the same key) the series raises nothing new; when the latest
complete hour is back inside the band a "recovered" row is written and delivered the same way.
The hour in progress is judged too, but only once its partial value is already outside the
band it would be compared with (a cost spike alerts during the hour it happens); while it is
inside, only complete hours count, so a half-filled hour never looks like a recovery or a drop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aggregates.models import Period, RunRollup
from budgets import signals
from budgets.anomalies import detection as anomalies
from budgets.anomalies import series as anomaly_selectors
from budgets.anomalies.detection import Detection, Judged
from budgets.models import Alert, AnomalyRule
from ingest import timeranges
from scores.models import ScoreRollup
from tenancy.models import Project

WINDOW = timedelta(days=anomalies.BASELINE_DAYS + 1)  # the judged day and its 7-day baseline
JUDGE = timedelta(hours=24)  # hours judged per pass: enough to see how long an excursion lasts
FRESH = timedelta(hours=2)  # an incident opens only on a flagged hour this recent
COOLDOWN = timedelta(hours=3)  # after a recovery, the same series stays quiet this long
INCIDENT_MEMORY = timedelta(days=30)  # an incident open longer than this is forgotten
AGENT, TOOL = AnomalyRule.Scope.AGENT, AnomalyRule.Scope.TOOL
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    (AnomalyRule.Metric.COST, AGENT),
    (AnomalyRule.Metric.RUNS, AGENT),
    (AnomalyRule.Metric.FAILURE_RATE, AGENT),
    (AnomalyRule.Metric.LATENCY_P95, AGENT),
    (AnomalyRule.Metric.TOKENS_PER_RUN, AGENT),
    (AnomalyRule.Metric.TOOL_ERROR_RATE, TOOL),
)
ScopeKey = tuple[int, str]  # (rule id, agent/tool name or "" for the project)


def ensure_default_rules(project: Project) -> list[AnomalyRule]:
    """The project's rules; a project without any gets the defaults (zero configuration)."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one creator at a time
        rules = list(AnomalyRule.objects.filter(project=project).order_by("pk"))
        if not rules:
            rules = AnomalyRule.objects.bulk_create(
                [AnomalyRule(project=project, metric=metric, scope=scope) for metric, scope in DEFAULT_RULES]
            )
    return rules


def ensure_score_rules(project: Project, since: datetime) -> list[AnomalyRule]:
    """The project's rules, plus one per score name seen since then that no rule watches yet:
    its pass rate per agent (pass/fail scores) or else its mean, against the baseline."""
    rules = list(AnomalyRule.objects.filter(project=project).order_by("pk"))
    watched = {rule.score_name for rule in rules if rule.score_name}
    new = [
        AnomalyRule(
            project=project,
            metric=AnomalyRule.Metric.SCORE_PASS_RATE if has_booleans else AnomalyRule.Metric.SCORE_MEAN,
            scope=AGENT,
            score_name=name,
        )
        for name, has_booleans in sorted(anomaly_selectors.score_names_seen(project, since).items())
        if name not in watched
    ]
    return rules + AnomalyRule.objects.bulk_create(new) if new else rules


def detect_anomalies(
    project: Project | None = None, now: datetime | None = None, *, backfill: timedelta | None = None
) -> int:
    """Judge every project with recent rollups; returns how many Alert rows were new. With
    `backfill`, also record the incidents (and recoveries) of that much past, once each: after
    an import or `seed_demo`, whose spike is days old."""
    now = now or timezone.now()
    until = timeranges.floor_hour(now)
    since = until - WINDOW - (backfill or timedelta(0))
    projects = Project.objects.filter(
        Q(pk__in=RunRollup.objects.filter(period=Period.HOUR, bucket__gte=since).values("project_id"))
        | Q(pk__in=ScoreRollup.objects.filter(bucket__gte=since).values("project_id"))
    )
    if project is not None:
        projects = projects.filter(pk=project.pk)
    created = sum(detect_project_anomalies(p, until=until, now=now, backfill=backfill) for p in projects)
    if created:
        signals.alerts_created.send(sender=Alert)
    return created


def detect_project_anomalies(
    project: Project, *, until: datetime, now: datetime, backfill: timedelta | None = None
) -> int:
    past = backfill or timedelta(0)
    ensure_default_rules(project)
    rules = [rule for rule in ensure_score_rules(project, until - WINDOW - past) if rule.enabled]
    if not rules:
        return 0
    judged_since = until - JUDGE - past
    series = anomaly_selectors.hourly_series(
        project,
        until - WINDOW - past,
        until + timeranges.HOUR,  # with the hour in progress
        weekly_from=judged_since,
        score_names=[rule.score_name for rule in rules],
    )
    open_incidents, quiet = _incident_state(rules, now)
    new: list[Alert] = []
    for rule in rules:
        spec = anomalies.METRICS[rule.metric]
        for key, points in series.get(anomalies.series_name(rule.metric, rule.score_name), {}).items():
            if not _matches(rule, key):
                continue
            detection = anomalies.detect(
                points,
                project.tz,
                spec,
                k=rule.sensitivity,
                sustained=rule.sustained,
                min_volume=rule.min_volume,
                since=judged_since,
                floor=rule.floor,
            )
            detection = _partial_hour_if_outside(detection, until)
            if backfill:
                new += _past_incidents(rule, key[1], detection, now)
            scope = (rule.pk, key[1])
            alert = _decide(rule, key[1], detection, open_incidents.get(scope), scope in quiet, until, now)
            if alert is not None:
                new.append(alert)
    if backfill and new:  # a backfill meets incidents it recorded before: count only new ones
        known = set(
            Alert.objects.filter(anomaly_rule__in=rules, period_start__gte=until - JUDGE - past).values_list(
                "anomaly_rule_id", "scope_value", "period_start", "kind"
            )
        )
        new = [a for a in new if (a.anomaly_rule_id, a.scope_value, a.period_start, a.kind) not in known]
    return len(Alert.objects.bulk_create(new, ignore_conflicts=True))


def _partial_hour_if_outside(detection: Detection, until: datetime) -> Detection:
    """The judgement without the hour in progress unless that hour is already outside its band.
    Judging is causal (a point's band and its run of outside hours come from earlier points), so
    dropping the last point leaves the others' verdicts as they are."""
    judged = detection.judged
    if judged and judged[-1].point.hour >= until and not judged[-1].outside:
        return Detection(judged[:-1])
    return detection


def _matches(rule: AnomalyRule, key: anomaly_selectors.SeriesKey) -> bool:
    scope, value = key
    if rule.scope == AnomalyRule.Scope.PROJECT:
        return scope == anomaly_selectors.PROJECT
    if not value:  # runs without an agent name: watched in the project total only
        return False
    return scope == rule.scope and (not rule.scope_value or rule.scope_value == value)


def _incident_state(rules: list[AnomalyRule], now: datetime) -> tuple[dict[ScopeKey, datetime], set[ScopeKey]]:
    """Open incidents (an anomaly without its recovery: series -> start) and series cooling down."""
    rows = Alert.objects.filter(
        anomaly_rule__in=rules,
        kind__in=[Alert.Kind.ANOMALY, Alert.Kind.RECOVERED],
        period_start__gte=now - INCIDENT_MEMORY,
    ).values_list("kind", "anomaly_rule_id", "scope_value", "period_start", "created_at")
    started: dict[tuple[int, str, datetime], bool] = {}
    ended: set[tuple[int, str, datetime]] = set()
    quiet: set[ScopeKey] = set()
    for kind, rule_id, value, start, created in rows:
        key = (int(rule_id), value, start)
        if kind == Alert.Kind.ANOMALY:
            started[key] = True
        else:
            ended.add(key)
            if created >= now - COOLDOWN:
                quiet.add((key[0], key[1]))
    open_incidents = {(k[0], k[1]): k[2] for k in started if k not in ended}
    return open_incidents, quiet


def _decide(
    rule: AnomalyRule,
    value: str,
    detection: Detection,
    incident: datetime | None,
    quiet: bool,
    until: datetime,
    now: datetime,
) -> Alert | None:
    """A new incident, its recovery, or nothing."""
    latest = detection.latest
    if latest is None or latest.band is None:
        return None
    if incident is not None:
        if detection.recovered:
            return _alert(rule, value, Alert.Kind.RECOVERED, incident, latest, now)
        return None
    if detection.active and not quiet and latest.point.hour >= until - FRESH:
        return _alert(rule, value, Alert.Kind.ANOMALY, _excursion_start(detection), latest, now)
    return None


def _past_incidents(rule: AnomalyRule, value: str, detection: Detection, now: datetime) -> list[Alert]:
    """An anomaly row per past excursion that was flagged, and its recovery if it ended."""
    out: list[Alert] = []
    start: Judged | None = None
    flagged: Judged | None = None
    for judged in detection.judged:
        if judged.outside:
            start = start or judged
            flagged = flagged or (judged if judged.flagged else None)
            continue
        if start is not None and flagged is not None and judged.band is not None:
            out.append(_alert(rule, value, Alert.Kind.ANOMALY, start.point.hour, flagged, now))
            out.append(_alert(rule, value, Alert.Kind.RECOVERED, start.point.hour, judged, now))
        start = flagged = None
    return out


def _excursion_start(detection: Detection) -> datetime:
    """The first hour of the run of out-of-band hours that ends at the latest one."""
    start = detection.judged[-1].point.hour
    for judged in reversed(detection.judged):
        if not judged.outside:
            break
        start = judged.point.hour
    return start


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))


def _alert(rule: AnomalyRule, value: str, kind: str, start: datetime, latest: Judged, now: datetime) -> Alert:
    band = latest.band or anomalies.Band(latest.point.value, latest.point.value, latest.point.value, fallback=True)
    return Alert(
        anomaly_rule=rule,
        kind=kind,
        metric=rule.metric,
        scope_value=value,
        period_start=start,
        sensitivity=rule.sensitivity,
        observed=_dec(latest.point.value),
        expected=_dec(band.expected),
        band_low=_dec(band.low),
        band_high=_dec(band.high),
        next_attempt_at=now,
    )
