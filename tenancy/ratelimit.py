"""Requests per minute per project API key, counted in the shared Django cache.

One runaway exporter (a retry loop, a SimpleSpanProcessor on a busy service) must not take the
intake away from every other key, so each key gets AGENTLEDGER_KEY_RATE_LIMIT requests per
fixed one-minute window; past that, OTLP/HTTP and the REST API answer 429 with Retry-After (the
seconds left in the window, which OTel exporters wait before retrying) and gRPC answers
RESOURCE_EXHAUSTED with the same delay as RetryInfo.

The counter lives in the cache because every process that serves requests (gunicorn workers, the
gRPC server) must see the same count. On Redis `incr` is atomic, so the limit is exact; on the
file cache of the embedded mode two processes can race on one count, so the limit may let a few
extra requests through, never fewer. A cache outage lets requests through (fails open): the
limiter protects the intake and must never be the reason it refuses data.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from tenancy.models import ApiKey

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is being loaded
    from rest_framework.views import APIView

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def _now() -> float:
    return time.time()


def _counter(api_key_id: int, window: int) -> str:
    return f"ratelimit:key:{api_key_id}:{window}"


def hit(api_key: ApiKey) -> int | None:
    """Count one request of `api_key`; None if it may proceed, else the seconds to wait."""
    limit = settings.AGENTLEDGER_KEY_RATE_LIMIT
    if limit <= 0:
        return None
    now = _now()
    window = int(now // WINDOW_SECONDS)
    key = _counter(api_key.pk, window)
    try:
        if cache.add(key, 1, timeout=2 * WINDOW_SECONDS):
            # First request of this window: drop the last window's counter so the file cache
            # keeps one or two files per key, not one per key per minute.
            cache.delete(_counter(api_key.pk, window - 1))
            count = 1
        else:
            count = cache.incr(key)
    except ValueError:  # the counter expired between add() and incr()
        cache.set(key, 1, timeout=2 * WINDOW_SECONDS)
        count = 1
    except Exception:  # the cache is down: fail open (see the module docstring)
        log.warning("rate limit not enforced: the cache is unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def limit_message() -> str:
    return f"rate limit exceeded: this API key may send {settings.AGENTLEDGER_KEY_RATE_LIMIT} requests per minute"


class ProjectKeyThrottle(BaseThrottle):
    """DRF's side of the same counter: every view a project key authenticates (the default
    throttle in REST_FRAMEWORK); session requests from the dashboard are not counted."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        wait = hit(request.auth)
        if wait is not None:
            raise Throttled(wait=wait, detail=limit_message() + ".")
        return True
