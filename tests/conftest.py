from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings

# CI runs the property-based tests (hypothesis, schemathesis) on a fixed sequence of examples, so
# a run is reproducible; unset HYPOTHESIS_PROFILE (or run by hand) to explore new examples.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Rate-limit and sign-in counters live in the cache, a directory under var/ that outlives a
    test (and the test run): every test starts from an empty one and leaves none behind."""
    cache.clear()
    yield
    cache.clear()
