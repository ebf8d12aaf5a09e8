"""Judge transport: one chat completion from an OpenAI-compatible endpoint, with errors sorted
into transient (try again later: 429, 5xx, timeouts, refused connections) and permanent.

It uses httpx2, the HTTP client genai-prices already depends on, rather than the openai SDK:
we need one POST, our own retry schedule (evaluations are an outbox, retried across passes),
and to read endpoints that are only roughly OpenAI-shaped. It never retries by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from config.retry_after import retry_after
from pricing.book import Usage

# Statuses worth trying again; every 5xx is too.
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, slots=True)
class JudgeReply:
    content: str  # "" when the answer had no text
    model: str  # as the endpoint reported it ("" if it did not)
    usage: Usage


class JudgeError(Exception):
    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


def client(timeout: float) -> httpx2.Client:
    """One client per judging pass: connections are reused across its calls (and threads)."""
    return httpx2.Client(timeout=timeout, follow_redirects=False)


def complete(http: httpx2.Client, *, base_url: str, api_key: str, body: Mapping[str, Any]) -> JudgeReply:
    """POST {base_url}/chat/completions and read the answer, or raise JudgeError."""
    url = f"{base_url.rstrip('/')}/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = http.post(url, json=dict(body), headers=headers)
    except httpx2.TimeoutException:
        raise JudgeError(f"the judge did not answer within {http.timeout.read or 0:g} s", transient=True) from None
    except httpx2.TransportError as exc:
        raise JudgeError(f"could not reach the judge at {url}: {exc}", transient=True) from None
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise JudgeError(f"could not call the judge at {url}: {exc}") from None
    if response.status_code != 200:
        status = response.status_code
        transient = status in TRANSIENT_STATUSES or status >= 500
        raise JudgeError(
            f"the judge answered {status}: {response.text[:300]}",
            transient=transient,
            retry_after=retry_after(response.headers.get("retry-after")) if transient else None,
        )
    return _reply(response)


def _reply(response: httpx2.Response) -> JudgeReply:
    try:
        data = response.json()
    except ValueError:
        data = None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(choices, list) or not choices:
        raise JudgeError(f"the judge's answer is not a chat completion: {response.text[:300]}")
    message = _dict(_dict(choices[0]).get("message"))
    content = message.get("content")
    model = data.get("model")
    return JudgeReply(
        content=content if isinstance(content, str) else "",
        model=model if isinstance(model, str) else "",
        usage=_usage(data.get("usage")),
    )


def _usage(raw: Any) -> Usage:
    """OpenAI's usage in our semantics, which are the same: prompt tokens include cached ones,
    completion tokens include reasoning ones."""
    usage = _dict(raw)
    prompt, completion = _dict(usage.get("prompt_tokens_details")), _dict(usage.get("completion_tokens_details"))
    return Usage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cache_read_tokens=_count(prompt.get("cached_tokens")),
        cache_write_tokens=None,
        reasoning_tokens=_count(completion.get("reasoning_tokens")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
