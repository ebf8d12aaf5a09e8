"""Whether a span failed, and why, from every carrier in docs/conventions.md, "Errors".

Order: status code 2 + status message → `error.type` → `exception` span events →
`langfuse.observation.level` + status message → pydantic-ai `failure_stage`.
An unset status is success (SC `recording-errors.md`: status stays unset on success).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.conventions import langfuse, pydantic_ai
from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_text

STATUS_ERROR = 2
STATUS_OK = 1


@dataclass(frozen=True, slots=True)
class SpanError:
    is_error: bool = False
    error_type: str = ""
    error_message: str = ""


def read_error(view: SpanView) -> SpanError:
    status = view.span.status_code
    error_type = as_text(view.get("error.type"))
    exception = _first_exception(view.span.events)
    lf_error = langfuse.is_error_level(view)
    lf_message = as_text(view.get(langfuse.STATUS_MESSAGE))
    failure_stage = as_text(view.get(pydantic_ai.FAILURE_STAGE))
    exception_type, exception_message = exception or (None, None)

    if pydantic_ai.is_deferral(view, exception_type or ""):
        return SpanError()
    # An exception event means failure (SC: handled errors SHOULD NOT be recorded on spans),
    # unless the instrumentation explicitly set the status to OK.
    failed = (
        status == STATUS_ERROR
        or error_type is not None
        or (exception is not None and status != STATUS_OK)
        or lf_error
        or failure_stage is not None
    )
    if not failed:
        return SpanError()
    status_message = as_text(view.span.status_message) if status == STATUS_ERROR else None
    return SpanError(
        is_error=True,
        error_type=error_type or exception_type or failure_stage or "",
        error_message=status_message or exception_message or lf_message or "",
    )


def _first_exception(events: Any) -> tuple[str | None, str | None] | None:
    """(exception.type, exception.message) of the first `exception` span event."""
    if not isinstance(events, list):
        return None
    for event in events:
        attributes = getattr(event, "attributes", None)
        if getattr(event, "name", None) == "exception" and isinstance(attributes, dict):
            return as_text(attributes.get("exception.type")), as_text(attributes.get("exception.message"))
    return None
