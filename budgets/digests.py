"""Daily digest: yesterday's cost per agent, against the average of the 7 days before it, posted
once per destination per day. The day is claimed (compare-and-swap on digest_sent_for) before
posting; a transient failure gives the claim back so the next pass retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from budgets import messages
from budgets.delivery import outbox
from budgets.delivery import slack as notifiers
from budgets.models import SlackDestination


def send_digests(now: datetime | None = None) -> int:
    """Post every digest that is due; returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    destinations = SlackDestination.objects.filter(daily_digest=True, disabled_reason="").select_related("project")
    for destination in destinations:
        sent += digest_send(destination, now)
    return sent


def digest_send(destination: SlackDestination, now: datetime) -> bool:
    yesterday = now.astimezone(destination.project.tz).date() - timedelta(days=1)
    claimed = (
        SlackDestination.objects.filter(pk=destination.pk)
        .filter(Q(digest_sent_for__lt=yesterday) | Q(digest_sent_for=None))
        .update(digest_sent_for=yesterday)
    )
    if claimed != 1:
        return False
    text, blocks = messages.digest_message(destination.project, yesterday)
    try:
        notifiers.post_slack_message(destination.webhook_url, blocks, text)
    except notifiers.NotifyError as exc:
        if exc.permanent:
            outbox.destination_disable(destination, exc.message)
        else:  # give the day back: the next pass retries
            SlackDestination.objects.filter(pk=destination.pk, digest_sent_for=yesterday).update(
                digest_sent_for=destination.digest_sent_for
            )
        return False
    return True
