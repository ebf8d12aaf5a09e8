"""DRF's JSON parser with the limits of OTLP intake: a body over AGENTLEDGER_MAX_REQUEST_BYTES
is a 413, and one nested too deeply to parse a 400.

DRF reads a JSON body from the request stream, which Django's DATA_UPLOAD_MAX_MEMORY_SIZE does
not bound, so the JSON API took bodies of any size into memory; and Python's json module raises
RecursionError (not the ValueError DRF turns into 400) for a few kilobytes of nested brackets,
which made every DRF endpoint answer 500.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError


class BodyTooLarge(APIException):
    status_code = 413
    default_detail = "request body is over the size limit"
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.AGENTLEDGER_MAX_REQUEST_BYTES
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(f"request body is over the {limit} byte limit")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
