"""Daily digest: yesterday's cost per agent, against the average of the 7 days before it, posted
once per destination per day. The day is claimed (compare-and-swap on digest_sent_for) before
posting; a transient failure gives the claim back so the next pass retries."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from budgets import notifiers, services
from budgets.models import SlackDestination
from ingest import selectors, timeranges
from ingest.timeranges import TimeRange
from tenancy.models import Project

MAX_AGENTS = 15


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
    text, blocks = digest_message(destination.project, yesterday)
    try:
        notifiers.post_slack_message(destination.webhook_url, blocks, text)
    except notifiers.NotifyError as exc:
        if exc.permanent:
            services.destination_disable(destination, exc.message)
        else:  # give the day back: the next pass retries
            SlackDestination.objects.filter(pk=destination.pk, digest_sent_for=yesterday).update(
                digest_sent_for=destination.digest_sent_for
            )
        return False
    return True


def _cost_by_agent(project: Project, first: date, days: int) -> dict[str, Decimal]:
    tz = project.tz
    span = TimeRange(timeranges.local_midnight(first, tz), timeranges.local_midnight(first + timedelta(days=days), tz))
    rows = selectors.summary(project, span, group_by="agent")["rows"]
    return {row["group"] or "(no agent)": Decimal(row["cost_usd"] or 0) for row in rows}


def digest_message(project: Project, day: date) -> tuple[str, list[dict[str, Any]]]:
    costs = _cost_by_agent(project, day, 1)
    before = _cost_by_agent(project, day - timedelta(days=7), 7)
    total = sum(costs.values(), Decimal(0))
    lines = []
    for agent, cost in sorted(costs.items(), key=lambda kv: -kv[1])[:MAX_AGENTS]:
        average = before.get(agent, Decimal(0)) / 7
        change = f"{(cost - average) * 100 / average:+.0f}% vs 7-day avg" if average else "new"
        lines.append(f"• *{agent}*: {services.money(cost)} ({change})")
    title = f"{project.name}: {services.money(total)} on {day:%A %Y-%m-%d}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines) or "No agent cost."}},
    ]
    return title, blocks
