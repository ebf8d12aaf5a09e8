"""Keyset-pagination cursors: the key of a page's last (or first) row as URL-safe text for its
Next and Previous links, and back. A cursor is base64url of compact JSON, unpadded. It is not
signed: a view checks the shape of what it decodes and treats anything else as no cursor."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def encode(key: Any) -> str:
    """`key` (JSON-able: strings, numbers, None, lists, dicts) as a cursor."""
    raw = json.dumps(key, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Any | None:
    """The JSON value a cursor carries; None for no cursor and for garbage (not base64, not
    JSON, or nested deeper than the parser goes), which the pages read as "the first page"."""
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return None
