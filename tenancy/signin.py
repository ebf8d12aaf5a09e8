"""Sign-in throttling for the dashboard and the admin: guessing passwords takes too long to pay.

After AGENTLEDGER_LOGIN_MAX_FAILURES failed sign-ins for one username, or four times as many from
one address (an office behind one NAT mistypes too), sign-in is refused for
AGENTLEDGER_LOGIN_LOCKOUT_SECONDS: even the right password is turned away, or guessing would go
on. A success clears the username's count. Counts live in the shared cache (settings.CACHES), so
every web worker sees them; if the cache is down sign-in still works (fails open, logged).

The check sits in the form, not in an authentication backend, so the person at the keyboard reads
why they are refused instead of "wrong password"; the admin uses the same form (config/urls.py).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 4  # failures allowed from one address, as a multiple of those for one username


def _now() -> float:
    return time.time()


def client_address(request: HttpRequest) -> str:
    """The client's IP: behind our TLS proxy, the address the proxy appended to X-Forwarded-For
    (the last one; earlier ones are whatever the client sent), else the socket's peer."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if settings.AGENTLEDGER_BEHIND_TLS_PROXY and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


def _counters(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    """(cache key, failures allowed) of the username and of the client's address."""
    limit = settings.AGENTLEDGER_LOGIN_MAX_FAILURES
    subjects = [("user", username.casefold(), limit)]
    if request is not None:
        subjects.append(("address", client_address(request), limit * ADDRESS_FACTOR))
    return [
        (f"signin:{kind}:{hashlib.sha256(value.encode()).hexdigest()}", allowed)
        for kind, value, allowed in subjects
        if value
    ]


def refusal(request: HttpRequest | None, username: str) -> str:
    """Why sign-in is refused right now for this username or address; empty when it is not."""
    if settings.AGENTLEDGER_LOGIN_MAX_FAILURES == 0:
        return ""
    now = _now()
    counters = _counters(request, username)
    try:
        states = cache.get_many([key for key, _ in counters])
    except Exception:  # the cache is down: fail open (module docstring)
        log.warning("sign-in throttling not enforced: the cache is unavailable", exc_info=True)
        return ""
    for key, allowed in counters:
        count, until = states.get(key, (0, 0.0))
        if count >= allowed and until > now:
            minutes = math.ceil((until - now) / 60)
            return (
                f"Too many failed sign-in attempts. Sign-in is paused for "
                f"{minutes} minute{'s' if minutes != 1 else ''}; try again later."
            )
    return ""


def record_failure(request: HttpRequest | None, username: str) -> None:
    """Count a failed sign-in. A count starts a window of LOCKOUT_SECONDS; reaching the limit
    restarts it, so the pause always lasts the full window from the failure that caused it."""
    if settings.AGENTLEDGER_LOGIN_MAX_FAILURES == 0:
        return
    window = settings.AGENTLEDGER_LOGIN_LOCKOUT_SECONDS
    now = _now()
    try:
        for key, allowed in _counters(request, username):
            count, until = cache.get(key, (0, 0.0))
            if until <= now:
                count, until = 0, now + window
            count += 1
            if count >= allowed:
                until = now + window
            cache.set(key, (count, until), timeout=math.ceil(until - now))
    except Exception:
        log.warning("failed sign-in not counted: the cache is unavailable", exc_info=True)


def forget_failures(username: str) -> None:
    try:
        cache.delete_many([key for key, _ in _counters(None, username)])
    except Exception:
        log.warning("failed sign-ins not cleared: the cache is unavailable", exc_info=True)


class ThrottledAuthenticationForm(AuthenticationForm):
    """AuthenticationForm that refuses while throttled and counts wrong usernames or passwords."""

    refused = ""

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        self.refused = refusal(self.request, username)
        if self.refused:
            raise ValidationError(self.refused, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.get_user() is None:  # not a right password of an inactive or non-staff user
                record_failure(self.request, username)
            raise
        if self.get_user() is not None:
            forget_failures(username)
        return cleaned


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The admin's sign-in form (staff only), throttled the same way."""


class SignInView(LoginView):
    """The dashboard's sign-in page; a refused attempt is answered 429 Too Many Requests."""

    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "refused", ""):
            response.status_code = 429
        return response
