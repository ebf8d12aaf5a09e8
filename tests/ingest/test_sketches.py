"""The latency sketch: percentiles within 1% of numpy's, however the values are split and merged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates import sketches
from aggregates.sketches import Sketch

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)


def distributions():
    rng = np.random.default_rng(20261123)
    return {
        "lognormal": rng.lognormal(mean=6, sigma=1.5, size=50_000),
        "very skewed lognormal": rng.lognormal(mean=2, sigma=3, size=50_000),
        "bimodal": np.concatenate([rng.normal(40, 4, 30_000).clip(min=0.001), rng.normal(9_000, 900, 20_000)]),
        "with zeros": np.concatenate([np.zeros(15_000), rng.exponential(250, 35_000)]),
        "pareto tail": (rng.pareto(1.2, 50_000) + 1) * 10,
        "microseconds to hours": 10 ** rng.uniform(-3, 7, 50_000),
    }


def relative_error(estimate, exact):
    if exact == 0:
        return abs(estimate)
    return abs(estimate - exact) / abs(exact)


@pytest.mark.parametrize("name", list(distributions()))
def test_percentiles_of_merged_hourly_sketches_are_within_one_percent_of_numpy(name):
    values = distributions()[name]
    hours = np.array_split(values, 240)  # ten days of hourly sketches
    merged = sketches.merge([Sketch.of(h).to_bytes() for h in hours])
    assert merged.count == values.size
    for q in QUANTILES:
        exact = float(np.percentile(values, q * 100))
        assert relative_error(merged.quantile(q), exact) <= 0.01, (name, q)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just(0.0),
            st.floats(min_value=1e-3, max_value=1e8, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(min_value=0, max_value=59), max_size=5),
    st.sampled_from(QUANTILES),
)
def test_any_split_merges_to_the_same_sketch_within_one_percent(values, cuts, q):
    bounds = sorted({c for c in cuts if c < len(values)} | {0, len(values)})
    parts = [values[a:b] for a, b in itertools.pairwise(bounds)]
    merged = sketches.merge([Sketch.of(p).to_bytes() for p in parts])
    whole = Sketch.of(values)
    assert merged.count == whole.count == len(values)
    assert merged.zeros == whole.zeros
    assert merged.keys.tolist() == whole.keys.tolist()
    assert merged.counts.tolist() == whole.counts.tolist()
    assert relative_error(merged.quantile(q), float(np.percentile(values, q * 100))) <= 0.01


def test_grouped_merge_keeps_groups_apart():
    rows = [
        ("a", Sketch.of([10, 20]).to_bytes()),
        ("b", Sketch.of([1000]).to_bytes()),
        ("a", Sketch.of([30]).to_bytes()),
    ]
    merged = sketches.merge_grouped(rows)
    assert merged["a"].count == 3
    assert merged["b"].count == 1
    assert relative_error(merged["a"].quantile(0.5), 20) <= 0.01
    assert relative_error(merged["b"].quantile(0.99), 1000) <= 0.01


def test_grouped_merge_of_many_groups_takes_the_sparse_path():
    rng = np.random.default_rng(7)
    rows = [(i % 3000, Sketch.of(10 ** rng.uniform(-3, 7, 5)).to_bytes()) for i in range(6000)]
    merged = sketches.merge_grouped(rows)
    assert len(merged) == 3000
    assert sum(s.count for s in merged.values()) == 30_000


def test_an_empty_sketch_has_no_percentiles_and_round_trips():
    empty = Sketch.of([])
    assert empty.count == 0
    assert empty.quantile(0.95) is None
    assert empty.percentiles() == {"p50": None, "p90": None, "p95": None, "p99": None}
    assert Sketch.from_bytes(empty.to_bytes()).count == 0
    assert sketches.merge([]).count == 0


def test_all_zero_durations_give_zero_percentiles():
    sketch = Sketch.from_bytes(Sketch.of([0.0] * 10).to_bytes())
    assert sketch.percentiles() == {"p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0}


def test_grouped_quantiles_match_the_quantile_of_each_merged_sketch():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(300):
        values = rng.lognormal(7, 1, size=int(rng.integers(0, 20))).tolist() + [0.0] * int(rng.integers(0, 3))
        rows.append((i % 37, Sketch.of(values).to_bytes()))
    merged = sketches.merge_grouped(rows)
    for q in (0.0, 0.5, 0.95, 1.0):
        grouped = sketches.quantile_grouped(rows, q)
        assert grouped.keys() == merged.keys()
        for key, sketch in merged.items():
            expected = sketch.quantile(q)
            if expected is None:
                assert grouped[key] is None
            else:
                assert grouped[key] == pytest.approx(expected, rel=1e-9)


def test_grouped_quantiles_of_empty_and_all_zero_groups():
    assert sketches.quantile_grouped([], 0.95) == {}
    assert sketches.quantile_grouped([("a", Sketch.of([0.0, 0.0]).to_bytes()), ("b", Sketch().to_bytes())], 0.5) == {
        "a": 0.0,
        "b": None,
    }


durations = st.lists(st.sampled_from([0.0, 0.004, 1.0, 12.5, 800.0, 45_000.0]), max_size=8)


@given(durations, durations, durations)
def test_a_run_moving_its_durations_gives_the_sketch_of_what_is_left(kept, gone, new):
    """What the delta pass does when a run's contribution changes: out with the old durations, in
    with the new, and the bytes equal a sketch built from scratch (what a rebuild writes)."""
    before = Sketch.of(kept + gone).to_bytes()
    assert sketches.adjust(before, new, gone) == Sketch.of(kept + new).to_bytes()


def test_removing_a_duration_the_sketch_never_held_is_refused():
    assert sketches.adjust(Sketch.of([1.0]).to_bytes(), [], [800.0]) is None
    assert sketches.adjust(b"", [], [0.0]) is None
