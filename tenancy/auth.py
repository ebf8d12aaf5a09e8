"""Project-key authentication for intake, the query API and the REST APIs (DRF classes below)."""

from __future__ import annotations

import base64

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tenancy import keys, services
from tenancy.models import ApiKey


def raw_key_from_request(request: HttpRequest) -> str:
    """The key from `Authorization: Bearer <key>`, `x-api-key`, or Basic auth (Langfuse SDKs
    send `public_key:secret_key`; the AgentLedger key may be either half)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return ""
        return password if password.startswith(keys.KEY_PREFIX) else user
    return request.headers.get("x-api-key", "").strip()


def api_key_for_raw_key(raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, compared in constant time; None if missing or revoked.

    Only the SHA-256 of a key is stored. The row is found by the key's prefix, which is no secret
    (the dashboard and the admin show it), so the time the lookup takes tells nothing about the
    rest; the secret part is then checked by comparing hashes with hmac.compare_digest, whose time
    does not depend on where two hashes differ.
    """
    if not raw_key.startswith(keys.KEY_PREFIX):
        return None
    for candidate in ApiKey.objects.select_related("project__organization").filter(
        prefix=keys.key_prefix(raw_key), revoked_at=None
    ):
        if keys.hashes_match(raw_key, candidate.key_hash):
            services.api_key_mark_used(candidate)
            return candidate
    return None


def api_key_for_request(request: HttpRequest) -> ApiKey | None:
    return api_key_for_raw_key(raw_key_from_request(request))


class ProjectKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <project key>` (or `x-api-key`); request.auth is the ApiKey."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        raw = raw_key_from_request(request._request)
        if not raw:
            return None
        api_key = api_key_for_raw_key(raw)
        if api_key is None:
            raise AuthenticationFailed("invalid or revoked API key")
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def api_key_of(request: Request) -> ApiKey:
    if not isinstance(request.auth, ApiKey):  # HasProjectKey lets no other request through
        raise AuthenticationFailed("a project API key is required")
    return request.auth


class HasProjectKey(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, ApiKey)
