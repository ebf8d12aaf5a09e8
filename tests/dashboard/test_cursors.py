"""Keyset cursors (dashboard.cursors): what the Next and Previous links carry, and garbage read
as no cursor at all."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import cursors

json_keys = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(json_keys)
def test_a_key_comes_back_from_url_safe_text(key):
    token = cursors.encode(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), "no padding, no + or /: safe in a query string"
    assert cursors.decode(token) == key


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-cursor",  # base64 of bytes that are not UTF-8
        "bm9wZQ",  # "nope": base64, not JSON
        "é",  # not ASCII
        "a",  # a length base64 cannot have
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nested deeper than the parser goes
    ],
)
def test_garbage_is_no_cursor(token):
    assert cursors.decode(token) is None
