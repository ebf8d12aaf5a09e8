"""PagerDuty transport: one Events API v2 event to AGENTLEDGER_PAGERDUTY_EVENTS_URL. A warning or
critical notice triggers, a resolved one resolves, both under the notice's dedup_key, so an
anomaly and its recovery (or a budget's 80% and 100% of one period) are one PagerDuty alert.
PagerDuty answers 202; 400 (an invalid event or routing key) is permanent; 429 and 5xx retry."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from budgets.delivery import http, webhook
from budgets.messages import Notice

# Notice state -> PagerDuty severity; a resolve carries "info", PagerDuty ignores it there.
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info", "resolved": "info"}
MAX_SUMMARY = 1024


def send_event(routing_key: str, notice: Notice) -> None:
    """Trigger or resolve, or raise NotifyError."""
    body = webhook.encode(event(routing_key, notice))
    http.post_json(settings.AGENTLEDGER_PAGERDUTY_EVENTS_URL, body, receiver="PagerDuty")


def event(routing_key: str, notice: Notice) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": notice.text.split("\n", 1)[0][:MAX_SUMMARY] or notice.title[:MAX_SUMMARY],
        "source": " / ".join(part for part in (notice.project, notice.scope_value) if part) or "AgentLedger",
        "severity": SEVERITIES[notice.state],
        "timestamp": webhook.iso_utc(notice),
        "class": notice.source,
        "custom_details": {
            "monitor": notice.source_name,
            "metric": notice.metric,
            "scope_value": notice.scope_value,
            "observed": webhook.decimal_string(notice.observed),
            "threshold": webhook.decimal_string(notice.threshold),
            "window_minutes": notice.window_minutes,
            **dict(notice.details),
        },
    }
    if notice.metric:
        payload["component"] = notice.metric
    if notice.project:
        payload["group"] = notice.project
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if notice.state == "resolved" else "trigger",
        "dedup_key": notice.dedup_key,
        "payload": payload,
        "links": [{"href": notice.url, "text": "Open in AgentLedger"}],
        "client": "AgentLedger",
        "client_url": settings.SITE_URL,
    }
