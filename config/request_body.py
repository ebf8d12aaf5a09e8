"""Read request bodies sent with `Transfer-Encoding: chunked`, whole and within the size limit.

Django sizes a request body by its Content-Length alone, so a chunked body (OpenTelemetry JS's
OTLP exporter pipes every export that way) reads as zero bytes; an empty export is valid
protobuf, and the spans would be acknowledged and never stored. This middleware reads such a
body up to `AGENTLEDGER_MAX_REQUEST_BYTES` and gives the request the Content-Length it lacked,
so intake and the JSON APIs read it like any other. Past the limit it stops reading and answers
413; a body that was declared but never came is a 400, never an empty success.

gunicorn (and most WSGI servers) hand the application the body already de-chunked, to be read
until it ends. Django's own development and test servers hand over the raw socket capped at
Content-Length (zero here), so for them the chunk framing is read here.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import BinaryIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

Handler = Callable[[HttpRequest], HttpResponse]
BLOCK = 64 * 1024


class BodyTooLarge(Exception):
    pass


class MalformedChunks(Exception):
    pass


def read_chunked_bodies(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        meta = request.META
        if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower() or meta.get("CONTENT_LENGTH"):
            return get_response(request)
        limit = settings.AGENTLEDGER_MAX_REQUEST_BYTES
        try:
            body = read_body(meta["wsgi.input"], limit)
        except BodyTooLarge:
            return _error(413, f"request body is over the {limit} byte limit")
        except MalformedChunks as exc:
            return _error(400, f"malformed chunked request body: {exc}")
        if not body:
            return _error(400, "the request declared a body (Transfer-Encoding: chunked) but none arrived")
        meta["CONTENT_LENGTH"] = str(len(body))
        # WSGIRequest sized its stream by the Content-Length it had (none): give it the body read here.
        request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        return get_response(request)

    return middleware


def read_body(stream: BinaryIO | LimitedStream, limit: int) -> bytes:
    """The whole body of a chunked request, at most `limit` bytes (else BodyTooLarge)."""
    if isinstance(stream, LimitedStream):  # Django's servers: the raw framing, capped at zero bytes
        stream.limit = sys.maxsize
        return _dechunk(stream, limit)
    parts: list[bytes] = []
    size = 0
    while block := stream.read(BLOCK):
        size += len(block)
        if size > limit:
            raise BodyTooLarge
        parts.append(block)
    return b"".join(parts)


def _dechunk(stream: LimitedStream, limit: int) -> bytes:
    """Chunked transfer coding (RFC 9112 section 7.1): hex size lines, data, then trailers."""
    parts: list[bytes] = []
    size = 0
    while True:
        line = stream.readline(1024)
        try:
            chunk = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedChunks(f"bad chunk size line {line[:40]!r}") from None
        if chunk == 0:
            break
        size += chunk
        if size > limit:
            raise BodyTooLarge
        data = stream.read(chunk)
        if len(data) != chunk or stream.readline(3).strip():
            raise MalformedChunks("a chunk ended early or without its line break")
        parts.append(data)
    while stream.readline(8192).strip():  # trailer fields, up to the empty line
        pass
    return b"".join(parts)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": status, "message": message}, status=status)
