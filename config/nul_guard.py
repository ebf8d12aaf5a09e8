"""Refuse NUL characters in query parameters with a clear 400. PostgreSQL text cannot hold them,
so a filter such as `?agent=%00` would otherwise fail deep in a query with a 500 (found by
schemathesis); no agent, user, model or date can contain one."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

Handler = Callable[[HttpRequest], HttpResponse]


def refuse_nul_parameters(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(_has_nul(key, values) for key, values in request.GET.lists()):
            return JsonResponse({"error": "NUL characters are not allowed in URLs or query parameters"}, status=400)
        return get_response(request)

    return middleware


def _has_nul(key: str, values: list[str]) -> bool:
    return "\x00" in key or any("\x00" in value for value in values)
