"""Plain Django endpoints of the ingest app: OTLP/HTTP intake and health checks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ingest import health, otlp, services
from ingest.models import WorkerHeartbeat
from tenancy import auth, ratelimit
from tenancy.models import ApiKey

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


@csrf_exempt
@require_POST
def otlp_traces(request: HttpRequest) -> HttpResponse:
    return _otlp(request, _store_traces, otlp.encode_trace_response)


@csrf_exempt
@require_POST
def otlp_logs(request: HttpRequest) -> HttpResponse:
    return _otlp(request, _store_logs, otlp.encode_logs_response)


@csrf_exempt
@require_POST
def otlp_metrics(request: HttpRequest) -> HttpResponse:
    """Accepted and dropped: metric token counts repeat the spans' and would double count."""
    return _otlp(
        request,
        _ignore_metrics,
        lambda **kw: otlp.encode_metrics_response(kw["as_json"]),
    )


Store = Callable[[ApiKey, HttpRequest], tuple[int, str]]


def _otlp(request: HttpRequest, store: Store, encode: Callable[..., bytes]) -> HttpResponse:
    """Authenticate, size-check, decode and store one OTLP export; answer in its encoding.

    A database outage at any step (the key lookup included) answers 503 with Retry-After,
    which OTLP exporters retry, so nothing is lost; so does a key over its rate limit (429).
    """
    limit = settings.AGENTLEDGER_MAX_REQUEST_BYTES
    try:
        api_key = auth.api_key_for_request(request)
        if api_key is None:
            return _error(
                401,
                "missing or revoked API key: send Authorization: Bearer <project key>",
            )
        if (wait := ratelimit.hit(api_key)) is not None:
            response = _error(429, f"{ratelimit.limit_message()}; retry in {wait} s")
            response["Retry-After"] = str(wait)
            return response
        if int(request.headers.get("Content-Length") or 0) > limit:
            return _error(413, f"request body is over the {limit} byte limit")
        media = otlp.media_type(request.content_type or "")
        rejected, message = store(api_key, request)
    except otlp.OtlpError as exc:
        return _error(exc.status, str(exc))
    except RequestDataTooBig:
        return _error(413, f"request body is over the {limit} byte limit")
    except (OperationalError, InterfaceError) as exc:
        log.warning("database unavailable during intake: %s", exc)
        response = _error(503, "database unavailable, retry later")
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    body = encode(rejected=rejected, message=message, as_json=media == "json")
    return HttpResponse(body, content_type=otlp.RESPONSE_CONTENT_TYPES[media])


def _store_traces(api_key: ApiKey, request: HttpRequest) -> tuple[int, str]:
    decoded = otlp.decode_traces(
        request.body,
        content_type=request.content_type or "",
        content_encoding=request.headers.get("Content-Encoding", ""),
        max_bytes=settings.AGENTLEDGER_MAX_REQUEST_BYTES,
    )
    rejected = services.ingest_decoded(api_key, decoded)
    return len(rejected), otlp.rejection_message(rejected)


def _store_logs(api_key: ApiKey, request: HttpRequest) -> tuple[int, str]:
    decoded = otlp.decode_logs(
        request.body,
        content_type=request.content_type or "",
        content_encoding=request.headers.get("Content-Encoding", ""),
        max_bytes=settings.AGENTLEDGER_MAX_REQUEST_BYTES,
    )
    services.ingest_log_events(api_key, decoded.events)
    return len(decoded.rejected), otlp.rejection_message(decoded.rejected, noun="log record")


def _ignore_metrics(api_key: ApiKey, request: HttpRequest) -> tuple[int, str]:
    return 0, ""


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": status, "message": message}, status=status)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        problems = [p for p in (health.database_problem(), health.broker_problem()) if p]
        beat = None if problems else WorkerHeartbeat.objects.order_by("-seen_at").first()
    except DatabaseError as exc:
        problems = [f"database error: {exc}"]
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    return JsonResponse({"status": "ok", "worker_last_seen": beat.seen_at.isoformat() if beat else None})
