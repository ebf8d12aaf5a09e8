"""One JSON POST, shared by the webhook and PagerDuty transports, its answer sorted the same way
for both: 2xx is delivered; no answer, 408, 429 and 5xx are transient (Retry-After honoured); any
other status is permanent, since the receiver refuses this request and will again (400 invalid
event or key, 401/403, 404/410 gone). Redirects are not followed: a moved endpoint is refused
until its destination is updated. Error texts name the host only, never the secret URL."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx2

from budgets.delivery.errors import NotifyError, retry_after_seconds

TIMEOUT_SECONDS = 10
TRANSIENT_STATUSES = frozenset({408, 429})
USER_AGENT = "AgentLedger"


def post_json(url: str, body: bytes, *, receiver: str, headers: Mapping[str, str] | None = None) -> httpx2.Response:
    """POST these exact bytes as application/json; the response if 2xx, else NotifyError."""
    host = urlsplit(url).hostname or "?"
    try:
        response = httpx2.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx2.TransportError as exc:  # refused, DNS, timeout
        raise NotifyError(f"could not reach {receiver} at {host}: {exc}") from None
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise NotifyError(f"could not post to {receiver} at {host}: {exc}", permanent=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    message = f"{receiver} answered {status}: {response.text.strip()[:200]}"
    if status in TRANSIENT_STATUSES or status >= 500:
        raise NotifyError(message, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    raise NotifyError(message, permanent=True)
