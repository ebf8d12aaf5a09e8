"""Advisory lock keys (ingest.locks): the values are pinned, since during a rolling upgrade an
older process and a newer one must take the same lock for the same trace or project's rollups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aggregates import deltas
from ingest.locks import advisory_key


def test_a_trace_keeps_the_key_it_had_before_the_shared_function():
    # blake2b-64 of "1:4bf9…" and "42:run-é", as ingest.services computed them
    assert advisory_key(1, "4bf92f3577b34da6a3ce929d0e0e4736") == -8572003998890823533
    assert advisory_key(42, "run-é") == -3374349631607516206


def test_a_projects_rollup_lock_is_pinned():
    # blake2b-64 of "rollups:1" and "rollups:7": the delta pass and repairs of every version take it
    assert deltas.lock_key(1) == -4185296888070892157
    assert deltas.lock_key(7) == 7737208823516418681


@given(st.lists(st.integers() | st.text(), min_size=1, max_size=4))
def test_every_key_is_a_postgresql_bigint(parts):
    assert -(2**63) <= advisory_key(*parts) < 2**63
