"""Daily digest: yesterday's cost per agent, against the average of the 7 days before it, sent
once per destination per day, to every kind but PagerDuty (a digest is not an incident). The day
is claimed (compare-and-swap on digest_sent_for) before sending; a transient failure gives the
claim back so the next pass retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from budgets import messages
from budgets.delivery import outbox
from budgets.delivery.dispatch import deliver
from budgets.delivery.errors import NotifyError
from budgets.models import Destination


def send_digests(now: datetime | None = None) -> int:
    """Send every digest that is due; returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    destinations = (
        Destination.objects.filter(daily_digest=True, disabled_reason="")
        .exclude(kind=Destination.Kind.PAGERDUTY)
        .select_related("project__organization")
    )
    for destination in destinations:
        sent += digest_send(destination, now)
    return sent


def digest_send(destination: Destination, now: datetime) -> bool:
    yesterday = now.astimezone(destination.project.tz).date() - timedelta(days=1)
    claimed = (
        Destination.objects.filter(pk=destination.pk)
        .filter(Q(digest_sent_for__lt=yesterday) | Q(digest_sent_for=None))
        .update(digest_sent_for=yesterday)
    )
    if claimed != 1:
        return False
    notice = messages.digest_notice(destination.project, yesterday, now)
    try:
        deliver(destination, notice)
    except NotifyError as exc:
        if exc.permanent:
            outbox.destination_disable(destination, exc.message)
        else:  # give the day back: the next pass retries
            Destination.objects.filter(pk=destination.pk, digest_sent_for=yesterday).update(
                digest_sent_for=destination.digest_sent_for
            )
        return False
    return True
