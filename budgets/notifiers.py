"""Slack transport: one incoming-webhook POST through slack-sdk, errors sorted into transient
(retry later, maybe after Retry-After) and permanent (the webhook is gone: disable it)."""

from __future__ import annotations

from typing import Any

from slack_sdk.webhook import WebhookClient

TIMEOUT_SECONDS = 10
# Slack's answers meaning the webhook will never work again.
PERMANENT_STATUSES = frozenset({403, 404, 410})
PERMANENT_BODIES = frozenset(
    {"invalid_token", "no_service", "no_team", "team_disabled", "channel_not_found", "channel_is_archived"}
)


class NotifyError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


def post_slack_message(url: str, blocks: list[dict[str, Any]], text: str) -> None:
    """Post or raise NotifyError."""
    client = WebhookClient(url, timeout=TIMEOUT_SECONDS)
    try:
        response = client.send(text=text, blocks=blocks)
    except OSError as exc:  # connection refused, DNS, timeout
        raise NotifyError(f"could not reach Slack: {exc}") from exc
    if response.status_code == 200:
        return
    body = (response.body or "").strip()
    message = f"Slack answered {response.status_code}: {body[:200]}"
    if response.status_code in PERMANENT_STATUSES or body in PERMANENT_BODIES:
        raise NotifyError(message, permanent=True)
    raise NotifyError(message, retry_after=_retry_after(response.headers))


def _retry_after(headers: dict[str, Any]) -> int | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0, int(str(raw).strip()))
            except ValueError:
                return None
    return None
