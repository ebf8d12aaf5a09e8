"""Webhook transport: the notice as one documented JSON object (docs/budgets-and-alerts.md,
"Destinations"), POSTed to the destination's URL. With a secret, the exact body bytes are signed:
X-AgentLedger-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>. Decimals are
strings ("8.5"): exact, as in the rest of the API."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

from budgets.delivery import http
from budgets.messages import Notice

SIGNATURE_HEADER = "X-AgentLedger-Signature"


def post_notice(url: str, notice: Notice, *, secret: str = "") -> None:
    """POST the notice's JSON body (signed when there is a secret), or raise NotifyError."""
    body = encode(webhook_body(notice))
    headers = {SIGNATURE_HEADER: signature(secret, body)} if secret else {}
    http.post_json(url, body, receiver="the webhook", headers=headers)


def webhook_body(notice: Notice) -> dict[str, Any]:
    """The documented body. `monitor` is the name of what raised it (budget, anomaly rule,
    monitor) and `source` its kind; `observed` and `threshold` are decimal strings or null."""
    return {
        "state": notice.state,
        "source": notice.source,
        "monitor": notice.source_name,
        "project": notice.project,
        "title": notice.title,
        "text": notice.text,
        "metric": notice.metric,
        "scope_value": notice.scope_value,
        "observed": decimal_string(notice.observed),
        "threshold": decimal_string(notice.threshold),
        "window_minutes": notice.window_minutes,
        "time": iso_utc(notice),
        "url": notice.url,
        "dedup_key": notice.dedup_key,
        "details": dict(notice.details),
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def decimal_string(value: Decimal | None) -> str | None:
    """'8.5', '12', '0.0123': never exponent notation; None stays None."""
    if value is None:
        return None
    return f"{value.normalize():f}" if value else "0"


def iso_utc(notice: Notice) -> str:
    """ISO 8601 in UTC with a Z, to the second: 2026-03-10T15:00:00Z."""
    return f"{notice.time:%Y-%m-%dT%H:%M:%SZ}"
