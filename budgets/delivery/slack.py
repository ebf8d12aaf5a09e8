"""Slack transport: one incoming-webhook POST through slack-sdk, errors sorted into transient
(retry later, maybe after Retry-After) and permanent (the webhook is gone: disable it)."""

from __future__ import annotations

from typing import Any

from slack_sdk.webhook import WebhookClient

from budgets.delivery.errors import NotifyError, retry_after_seconds

TIMEOUT_SECONDS = 10
# Slack's answers meaning the webhook will never work again.
PERMANENT_STATUSES = frozenset({403, 404, 410})
PERMANENT_BODIES = frozenset(
    {"invalid_token", "no_service", "no_team", "team_disabled", "channel_not_found", "channel_is_archived"}
)


def post_slack_message(url: str, blocks: list[dict[str, Any]], text: str) -> None:
    """Post or raise NotifyError. The fallback text and every mrkdwn text are escaped here, once
    for every message (see escape_mrkdwn)."""
    client = WebhookClient(url, timeout=TIMEOUT_SECONDS)
    try:
        response = client.send(text=escape_mrkdwn(text), blocks=_escaped(blocks))
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
            return retry_after_seconds(str(raw))
    return None


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters as entities. Messages name agents, tools and users taken
    from spans: unescaped, an agent called "<!channel>" pings the whole channel and one called
    "<https://evil.example|Open the dashboard>" shows a disguised link. No message of ours uses
    Slack's <...> syntax on purpose, so everything is escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(value: Any) -> Any:
    """Blocks with the text of every mrkdwn object escaped (plain_text is shown as sent)."""
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return {**value, "text": escape_mrkdwn(value["text"])}
        return {key: _escaped(item) for key, item in value.items()}
    return value
