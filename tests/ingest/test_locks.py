"""Advisory lock keys (ingest.locks): the values are pinned, since during a rolling upgrade an
older process and a newer one must take the same lock for the same trace or rollup bucket."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from aggregates import rollups
from aggregates.models import Period
from ingest.locks import advisory_key


def test_a_trace_keeps_the_key_it_had_before_the_shared_function():
    # blake2b-64 of "1:4bf9…" and "42:run-é", as ingest.services computed them
    assert advisory_key(1, "4bf92f3577b34da6a3ce929d0e0e4736") == -8572003998890823533
    assert advisory_key(42, "run-é") == -3374349631607516206


def test_a_rollup_bucket_keeps_the_key_it_had_before_the_shared_function():
    # blake2b-64 of "rollup:1:hour:2026-03-01T14:00:00+00:00" and "rollup:7:day:2026-03-01T00:00:00+00:00"
    assert rollups.lock_key(1, Period.HOUR, datetime(2026, 3, 1, 14, tzinfo=UTC)) == 2829258832046329915
    assert rollups.lock_key(7, Period.DAY, datetime(2026, 3, 1, tzinfo=UTC)) == -1162817540739967540


@given(st.lists(st.integers() | st.text(), min_size=1, max_size=4))
def test_every_key_is_a_postgresql_bigint(parts):
    assert -(2**63) <= advisory_key(*parts) < 2**63
