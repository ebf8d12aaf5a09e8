from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Rate-limit and sign-in counters live in the cache, a directory under var/ that outlives a
    test (and the test run): every test starts from an empty one and leaves none behind."""
    cache.clear()
    yield
    cache.clear()
