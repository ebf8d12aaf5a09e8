"""Services: judge every enabled monitor once a minute, keep its incidents, and write an Alert
for each incident state (the budgets outbox delivers it; budgets/messages.py words it).

Per monitor and scope value, over the window that ends at the current minute:
- the value breaches a threshold when it is strictly beyond it: above `critical` (or below,
  for `comparison=below`); a value exactly at a threshold does not alert;
- no incident, breaching → an incident opens at warning or critical (one message);
- warning, now critical → it escalates (one message). An incident never steps down: a critical
  one whose value falls back to the warning band stays critical, silently, until it resolves;
- open, back inside both thresholds for `recovery_evaluations` evaluations in a row →
  resolved (one message). A breach in between starts the count again, so it does not flap;
- fewer runs (calls, scores) than `min_volume` in the window: not judged, nothing changes;
- an open incident whose value has sent nothing at all for 24 hours (an agent retired, a model
  no longer used) and is not watched for "no data" resolves, with its message, rather than stay
  open for ever;
- `no_data`: a value expected to report (the project, the named value, or for a group-by each
  value seen in the previous 7 days) with nothing in the window is a critical breach, "no data";
  it resolves like any other once data is back inside the thresholds;
- muted (`muted_until` in the future): incidents open, escalate and resolve as usual but no
  Alert is written. Once the mute ends, an incident still open is announced at its current
  state on its next breaching evaluation, and a resolution is announced only if its incident's
  opening (or escalation) was.

Safe to run twice, and by two workers at once: the window ends at the minute, an open incident
is unique per (monitor, value), a judged minute is claimed on the incident (compare-and-swap on
last_evaluated_at) so it counts once, and an Alert is unique per (incident, kind).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aggregates import deltas
from budgets import signals
from budgets.models import Alert
from budgets.monitors import catalog, metrics
from budgets.monitors.models import Monitor, MonitorIncident

log = logging.getLogger(__name__)

APPLY_SECONDS = 20  # at most this long bringing the minute rows up to date before judging
BASELINE = timedelta(days=7)  # a group-by monitor's "no data" watches the values seen this long before
FORGOTTEN = timedelta(hours=24)  # an open incident whose value sent nothing for this long resolves
WARNING, CRITICAL = MonitorIncident.State.WARNING, MonitorIncident.State.CRITICAL
KIND_OF: dict[str, str] = {WARNING: Alert.Kind.MONITOR_WARNING, CRITICAL: Alert.Kind.MONITOR_CRITICAL}


@dataclass(frozen=True, slots=True)
class Verdict:
    level: str | None  # WARNING, CRITICAL, or None: inside both thresholds
    value: Decimal | None  # None: no data
    threshold: Decimal | None  # the one breached
    no_data: bool = False


@dataclass(frozen=True, slots=True)
class Pass:
    until: datetime  # the end of every window: the current minute
    now: datetime
    muted: bool


def evaluate_monitors(now: datetime | None = None) -> int:
    """Judge every enabled monitor; returns how many Alert rows were written."""
    now = now or timezone.now()
    until = now.replace(second=0, microsecond=0)
    try:  # the freshest minute rows: what intake sent up to now
        deltas.apply_pending(max_seconds=APPLY_SECONDS)
    except deltas.RollupFailed:
        log.exception("some deltas could not be applied before the monitors were judged")
    created = 0
    for monitor in Monitor.objects.filter(enabled=True).order_by("pk"):
        try:
            created += evaluate_monitor(monitor, until=until, now=now)
        except Exception:  # one broken monitor must not silence the others
            log.exception("evaluating monitor %s failed", monitor.pk)
    if created:
        signals.alerts_created.send(sender=Alert)
    return created


def evaluate_monitor(monitor: Monitor, *, until: datetime, now: datetime) -> int:
    since = until - timedelta(minutes=monitor.window_minutes)
    measured = metrics.window_values(monitor, since, until)
    expected = _expected(monitor, since)
    run = Pass(until, now, muted=monitor.muted_until is not None and monitor.muted_until > now)
    created = 0
    with transaction.atomic():
        incidents = {i.scope_value: i for i in monitor.incidents.filter(state__in=MonitorIncident.OPEN)}
        for value in sorted(set(measured) | expected | set(incidents)):
            verdict = judge(monitor, measured.get(value) or metrics.nothing(monitor), expected=value in expected)
            incident = incidents.get(value)
            if verdict is not None:
                created += _apply(monitor, value, verdict, incident, run)
            elif incident is not None and value not in measured and until - incident.last_evaluated_at >= FORGOTTEN:
                created += _close(monitor, incident, run, {"last_value": None})
        last = {value: None if m.value is None else f"{m.value.normalize():f}" for value, m in measured.items()}
        Monitor.objects.filter(pk=monitor.pk).update(last_evaluated_at=until, last_values=last)
    return created


def _expected(monitor: Monitor, since: datetime) -> set[str]:
    """The scope values that should report in the window (judged even with nothing there)."""
    if monitor.scope == catalog.PROJECT:
        return {""}
    if monitor.scope_value:
        return {monitor.scope_value}
    return metrics.seen_values(monitor, since - BASELINE, since) if monitor.no_data else set()


def judge(monitor: Monitor, measured: metrics.Measured, *, expected: bool) -> Verdict | None:
    """Where this window's value stands; None when it is not judged (too little volume)."""
    if measured.volume == 0 and monitor.no_data and expected:
        return Verdict(CRITICAL, None, None, no_data=True)
    value = measured.value
    if value is None or measured.volume < monitor.min_volume:
        return None
    if _beyond(monitor, value, monitor.critical):
        return Verdict(CRITICAL, value, monitor.critical)
    if monitor.warning is not None and _beyond(monitor, value, monitor.warning):
        return Verdict(WARNING, value, monitor.warning)
    return Verdict(None, value, None)


def _beyond(monitor: Monitor, value: Decimal, threshold: Decimal) -> bool:
    return value > threshold if monitor.comparison == Monitor.Comparison.ABOVE else value < threshold


def _apply(monitor: Monitor, value: str, verdict: Verdict, incident: MonitorIncident | None, run: Pass) -> int:
    if incident is None:
        if verdict.level is None:
            return 0
        incident = _open(monitor, value, verdict.level, verdict, run)
        return 0 if incident is None else _announce(monitor, incident, run)
    if verdict.level is None:
        return _inside(monitor, incident, verdict, run)
    level = CRITICAL if CRITICAL in (incident.state, verdict.level) else WARNING
    changes: dict[str, Any] = {
        "state": level,
        "last_value": verdict.value,
        "no_data": verdict.no_data,
        "inside_count": 0,
    }
    if level == verdict.level:
        changes["threshold"] = verdict.threshold
    if level != incident.state:
        changes["escalated_at"] = run.until
    if not _claim(incident, run, changes):
        return 0
    return _announce(monitor, incident, run)


def _open(monitor: Monitor, value: str, level: str, verdict: Verdict, run: Pass) -> MonitorIncident | None:
    """A new incident; None if another evaluation opened this value's incident first."""
    try:
        with transaction.atomic():
            return MonitorIncident.objects.create(
                monitor=monitor,
                scope_value=value,
                state=level,
                opened_at=run.until,
                threshold=verdict.threshold,
                last_value=verdict.value,
                no_data=verdict.no_data,
                last_evaluated_at=run.until,
            )
    except IntegrityError:
        return None


def _inside(monitor: Monitor, incident: MonitorIncident, verdict: Verdict, run: Pass) -> int:
    count = incident.inside_count + 1
    changes: dict[str, Any] = {"inside_count": count, "last_value": verdict.value, "no_data": False}
    if count < monitor.recovery_evaluations:
        _claim(incident, run, changes)
        return 0
    return _close(monitor, incident, run, changes)


def _close(monitor: Monitor, incident: MonitorIncident, run: Pass, changes: dict[str, Any]) -> int:
    """Resolve the incident (one message, if its opening was announced)."""
    changes |= {"state": MonitorIncident.State.RESOLVED, "resolved_at": run.until}
    if not _claim(incident, run, changes) or run.muted or not incident.announced:
        return 0
    return _write_alert(monitor, incident, Alert.Kind.MONITOR_RESOLVED, run)


def _claim(incident: MonitorIncident, run: Pass, changes: dict[str, Any]) -> bool:
    """Record this minute's judgement on the open incident, unless this minute was judged already."""
    changes["last_evaluated_at"] = run.until
    claimed = MonitorIncident.objects.filter(
        pk=incident.pk, state__in=MonitorIncident.OPEN, last_evaluated_at__lt=run.until
    ).update(**changes)
    for field, value in changes.items():
        setattr(incident, field, value)
    return claimed == 1


def _announce(monitor: Monitor, incident: MonitorIncident, run: Pass) -> int:
    """The message of the incident's state, unless muted or already written."""
    if run.muted or incident.announced == incident.state:
        return 0
    claimed = MonitorIncident.objects.filter(pk=incident.pk, announced=incident.announced).update(
        announced=incident.state
    )
    if claimed != 1:
        return 0
    incident.announced = incident.state
    return _write_alert(monitor, incident, KIND_OF[incident.state], run)


def _write_alert(monitor: Monitor, incident: MonitorIncident, kind: str, run: Pass) -> int:
    try:
        with transaction.atomic():
            Alert.objects.create(
                monitor=monitor,
                incident=incident,
                kind=kind,
                metric=monitor.metric,
                scope_value=incident.scope_value,
                observed=incident.last_value,
                threshold=incident.threshold,
                period_start=incident.opened_at,
                next_attempt_at=run.now,
            )
    except IntegrityError:  # written by another evaluation
        return 0
    return 1
