"""Alert delivery: an outbox. `send_alert` claims a due row with a compare-and-swap that also
leases it (next_attempt_at moves forward), sends its notice to each enabled destination not yet
delivered to (any kind: dispatch.deliver), and records the outcome per destination. Transient failures retry with backoff (or Retry-After); a permanent
one disables the destination. A worker that dies mid-send leaves the lease to expire and the row
is retried, so nothing is lost; a destination that already got it is never posted to again.
An alert with nowhere to go (no destination, or only disabled ones) is not retrying: it records
that it waits for a user (Alert.undeliverable), is checked again hourly, and is due at once when
a destination is added, chosen or re-enabled.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from budgets import messages
from budgets.delivery.dispatch import deliver
from budgets.delivery.errors import NotifyError
from budgets.messages import alert_budget
from budgets.models import Alert, Destination

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed send not finished by then is retried
MAX_BACKOFF = timedelta(hours=1)
NO_DESTINATION_RETRY = timedelta(hours=1)


def due_alerts(now: datetime | None = None) -> QuerySet[Alert]:
    return Alert.objects.filter(sent_at=None, next_attempt_at__lte=now or timezone.now()).order_by("next_attempt_at")


def deliver_due_alerts(now: datetime | None = None) -> int:
    """Try every due alert once; returns how many were sent."""
    sent = 0
    for alert_id in list(due_alerts(now).values_list("pk", flat=True)[:500]):
        sent += send_alert(alert_id, now)
    return sent


def send_alert(alert_id: int, now: datetime | None = None) -> bool:
    """Claim the alert, post it to its pending destinations, record the outcome. True if it is
    now sent to every destination; False if someone else holds it or something must retry."""
    now = now or timezone.now()
    claimed = Alert.objects.filter(pk=alert_id, sent_at=None, next_attempt_at__lte=now).update(
        next_attempt_at=now + LEASE, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    alert = Alert.objects.select_related("budget__project", "anomaly_rule__project", "monitor__project").get(
        pk=alert_id
    )
    destinations = alert_destinations(alert)
    delivered = set(alert.delivered_to.values_list("pk", flat=True))
    pending = [d for d in destinations if d.pk not in delivered and d.enabled]
    if not destinations or (not pending and len(delivered) < len(destinations)):
        reason = Alert.Undeliverable.DESTINATIONS_DISABLED if destinations else Alert.Undeliverable.NO_DESTINATION
        Alert.objects.filter(pk=alert.pk, sent_at=None).update(
            next_attempt_at=now + NO_DESTINATION_RETRY, undeliverable=reason, last_error=""
        )
        return False
    notice = messages.alert_notice(alert)
    errors: list[NotifyError] = []
    for destination in pending:
        try:
            deliver(destination, notice)
        except NotifyError as exc:
            errors.append(exc)
            if exc.permanent:
                destination_disable(destination, exc.message)
        else:
            alert.delivered_to.add(destination)
    if not errors:
        Alert.objects.filter(pk=alert.pk).update(sent_at=now, last_error="", undeliverable="")
        return True
    retry_after = max((e.retry_after or 0 for e in errors), default=0)
    backoff = min(timedelta(seconds=30 * 2 ** (alert.attempts - 1)), MAX_BACKOFF)
    _retry_later(alert, now + max(backoff, timedelta(seconds=retry_after)), errors[-1].message)
    return False


def alert_destinations(alert: Alert) -> list[Destination]:
    """The budget's, the anomaly rule's or the monitor's destinations (a rule or monitor without
    any: the whole project's)."""
    rule = alert.anomaly_rule or alert.monitor
    if rule is not None:
        chosen = list(rule.destinations.filter(project_id=rule.project_id))
        return chosen or list(Destination.objects.filter(project_id=rule.project_id).order_by("pk"))
    budget = alert_budget(alert)
    return list(budget.destinations.filter(project_id=budget.project_id))


def _retry_later(alert: Alert, when: datetime, error: str) -> None:
    Alert.objects.filter(pk=alert.pk, sent_at=None).update(
        next_attempt_at=when, last_error=error[:500], undeliverable=""
    )


def alerts_recheck(alerts: QuerySet[Alert], now: datetime | None = None) -> int:
    """Those of these alerts that waited for a destination are due at once (one was added or
    chosen for them) and no longer shown as waiting. Returns how many."""
    waiting = alerts.filter(sent_at=None).exclude(undeliverable="")
    return waiting.update(next_attempt_at=now or timezone.now(), undeliverable="")


def destination_disable(destination: Destination, reason: str) -> None:
    log.warning("disabling %s destination %s: %s", destination.kind, destination.pk, reason)
    Destination.objects.filter(pk=destination.pk).update(disabled_reason=reason[:300])
    destination.disabled_reason = reason[:300]


def destination_enable(destination: Destination, now: datetime | None = None) -> None:
    """Clear the disabled state; the alerts that waited for it are due again at once."""
    Destination.objects.filter(pk=destination.pk).update(disabled_reason="")
    destination.disabled_reason = ""
    project_id = destination.project_id
    waiting = (
        Q(budget__destinations=destination) | Q(anomaly_rule__project_id=project_id) | Q(monitor__project_id=project_id)
    )
    Alert.objects.filter(waiting, sent_at=None).update(next_attempt_at=now or timezone.now(), undeliverable="")


def destination_send_test(destination: Destination, now: datetime | None = None) -> None:
    """Send a test message now; raises NotifyError (and disables the destination if permanent).
    On PagerDuty the test is an event triggered and at once resolved (its own dedup_key), so
    nobody is left with an open incident."""
    notice = messages.test_notice(destination.name, destination.project, now)
    try:
        deliver(destination, notice)
        if destination.kind == Destination.Kind.PAGERDUTY:
            deliver(destination, dataclasses.replace(notice, state="resolved"))
    except NotifyError as exc:
        if exc.permanent:
            destination_disable(destination, exc.message)
        raise
