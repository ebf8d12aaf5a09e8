"""Pure: whether a failed LLM call was the provider's failure (rate limited, a server error,
overloaded) rather than the caller's (a bad request, an unknown model, a refused key).

Instrumentations carry the HTTP status in different places: `error.type` may be the status
("429", google-genai), the SDK's exception class ("RateLimitError", "anthropic.InternalServerError")
or the provider's error type ("overloaded_error"); otherwise the status message or exception
message starts with it ("Error code: 529 - …" from the OpenAI and Anthropic SDKs, "503 UNAVAILABLE."
from google-genai), possibly after wrappers ("Error getting response: {'error': 'Error code: 429…").
"""

from __future__ import annotations

import re

# Exception classes and provider error types (lower case, module path dropped).
_PROVIDER_TYPES = {
    "ratelimiterror",
    "rate_limit_error",
    "rate_limit_exceeded",
    "internalservererror",
    "servererror",
    "serviceunavailableerror",
    "overloadederror",
    "overloaded_error",
    "api_error",  # Anthropic's type for its 500s
    "server_error",  # OpenAI's
    "resource_exhausted",  # Google's 429
    "unavailable",
    "internal",
}
# The status opens the message (after an exception name) or follows "error code" / "status code".
_STATUS = re.compile(r"(?:^(?:[\w.]+:\s*)?|error code:?\s*|status(?:[ _]code)?\s*[:=]?\s*)(429|5\d\d)\b", re.IGNORECASE)
_WORDS = re.compile(r"overloaded|rate[ _-]?limit|resource[ _]exhausted|too many requests", re.IGNORECASE)


def is_provider_error(error_type: str, message: str) -> bool:
    """True for 429s, 5xx and overloaded answers, from the span's error type and message."""
    kind = error_type.strip().rsplit(".", 1)[-1].lower()
    if kind.isdigit():  # the status itself
        return _is_provider_status(int(kind))
    if kind in _PROVIDER_TYPES:
        return True
    return bool(_STATUS.search(message) or _WORDS.search(message) or _WORDS.search(error_type))


def _is_provider_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599
