"""The Content-Security-Policy header, from the SECURE_CSP setting.

Span content (prompts, completions, tool arguments) is text an outsider can choose, and the run
page shows it. Templates escape it; this header is the second wall, so that even markup that got
through could run no script. Django 5.2 has no CSP support; Django 6's
ContentSecurityPolicyMiddleware reads the same SECURE_CSP dict, so upgrading swaps this module
for Django's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
View = Callable[..., HttpResponse]


def header_value(policy: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


def content_security_policy(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: every response gets the site policy unless its view set its own (csp_override).

    With DEBUG on, error responses go without: Django's debug pages style and script themselves
    inline, and a developer needs them readable.
    """
    value = header_value(settings.SECURE_CSP)
    debug = settings.DEBUG

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if HEADER not in response and not (debug and response.status_code >= 400):
            response[HEADER] = value
        return response

    return middleware


def csp_override(policy: Mapping[str, Sequence[str]]) -> Callable[[View], View]:
    """Give one view's responses their own policy, for a page that cannot live with the site's."""
    value = header_value(policy)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response[HEADER] = value
            return response

        return wrapped

    return decorator
