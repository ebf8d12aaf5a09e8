"""The REST API's exception handler: DRF's, plus a database outage answered like intake answers it."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

RETRY_AFTER_SECONDS = "5"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """503 with Retry-After when the database is unreachable (clients and exporters retry those),
    instead of a 500 that reads like a bug and that REST clients give up on."""
    if isinstance(exc, OperationalError | InterfaceError):
        response = Response({"detail": "database unavailable, retry later"}, status=503)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    return drf_exception_handler(exc, context)


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"spans[3].start_time": ["This field is required."]}."""
    if isinstance(errors, dict):
        out: dict[str, list[str]] = {}
        for key, value in errors.items():
            path = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            out |= flatten_errors(value, path)
        return out
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        return {prefix or "body": [str(e) for e in errors]}
    if isinstance(errors, list):
        out = {}
        for index, value in enumerate(errors):
            out |= flatten_errors(value, f"{prefix}[{index}]")
        return out
    return {prefix or "body": [str(errors)]}
