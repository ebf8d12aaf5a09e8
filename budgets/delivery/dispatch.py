"""Sending one notice to one destination, whatever its kind: the one entry point of the
transports (slack, webhook, pagerduty, email beside this module)."""

from __future__ import annotations

from django.conf import settings

from budgets.delivery import email, pagerduty, slack, webhook
from budgets.delivery.errors import NotifyError
from budgets.messages import Notice
from budgets.models import Destination, url_host_allowed


def deliver(destination: Destination, notice: Notice) -> None:
    """Send `notice` (budgets.messages.Notice: any alert, digest or test, built once for every
    destination) through the transport of the destination's kind. Returns when it was accepted;
    raises NotifyError otherwise: `permanent` when this destination will never accept it (the
    caller disables it), else retry later, no sooner than `retry_after` seconds if set.
    Delivering twice is the caller's to prevent (the outbox records who got what)."""
    kind = destination.kind
    if kind in (Destination.Kind.SLACK, Destination.Kind.WEBHOOK) and not url_host_allowed(destination.url):
        hosts = ", ".join(settings.AGENTLEDGER_DESTINATION_ALLOWED_HOSTS)
        raise NotifyError(f"the URL's host is not in AGENTLEDGER_DESTINATION_ALLOWED_HOSTS ({hosts})", permanent=True)
    if kind == Destination.Kind.SLACK:
        slack.post_slack_message(destination.url, notice.blocks, notice.text)
    elif kind == Destination.Kind.WEBHOOK:
        webhook.post_notice(destination.url, notice, secret=destination.secret)
    elif kind == Destination.Kind.PAGERDUTY:
        pagerduty.send_event(destination.routing_key, notice)
    elif kind == Destination.Kind.EMAIL:
        email.send_notice(destination.recipients, notice)
    else:
        raise NotifyError(f"unknown destination kind {kind!r}", permanent=True)
