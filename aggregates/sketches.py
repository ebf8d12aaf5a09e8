"""Pure: a mergeable latency sketch (DDSketch's logarithmic buckets) and its byte encoding.

A positive value x falls in bucket i = ceil(log_gamma(x)), i.e. (gamma^(i-1), gamma^i], and is
read back as 2 * gamma^i / (gamma + 1), which is within RELATIVE_ACCURACY of every value in the
bucket. Zeros (and anything below MIN_VALUE) have their own exact bucket. Merging adds bucket
counts, so a sketch of any time range and filter is the merge of its hourly sketches: exact in
count, and every percentile within RELATIVE_ACCURACY of the true order statistic.

Percentiles follow numpy's default (linear interpolation between the two order statistics
around rank q * (n - 1)); each of the two is estimated within RELATIVE_ACCURACY and the values
are non-negative, so the interpolated result is too.

Hand-rolled rather than the `ddsketch` package: a query merges thousands of stored hourly
sketches, which this does in one vectorized numpy pass over their raw bytes, where `ddsketch`
merges bucket by bucket in Python objects and serializes through protobuf.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

RELATIVE_ACCURACY = 0.008  # < 1% with room for floating-point rounding at bucket edges
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-9  # smaller values (durations in ms: below a picosecond) count as zero
PERCENTILES = (50, 90, 95, 99)

# Encoding: little-endian int32 [zero_count, key_1 .. key_n, count_1 .. count_n], keys ascending.
_DTYPE = np.dtype("<i4")

IntArray = npt.NDArray[np.int64]


def _empty() -> IntArray:
    return np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class Sketch:
    zeros: int = 0
    keys: IntArray = field(default_factory=_empty)  # ascending bucket indexes
    counts: IntArray = field(default_factory=_empty)  # values per bucket, all > 0

    @classmethod
    def of(cls, values: Iterable[float]) -> Sketch:
        zeros, counts = _count(values)
        keys = sorted(counts)
        return cls(zeros, np.array(keys, dtype=np.int64), np.array([counts[k] for k in keys], dtype=np.int64))

    @property
    def count(self) -> int:
        return self.zeros + int(self.counts.sum())

    def to_bytes(self) -> bytes:
        header = np.array([self.zeros], dtype=_DTYPE)
        return b"".join(
            (
                header.tobytes(),
                self.keys.astype(_DTYPE).tobytes(),
                self.counts.astype(_DTYPE).tobytes(),
            )
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sketch:
        return merge([blob])

    def quantile(self, q: float, cumulative: IntArray | None = None) -> float | None:
        """The q-quantile (0 <= q <= 1) as numpy.percentile(values, 100 * q) would give it."""
        n = self.count
        if n == 0:
            return None
        position = q * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        if cumulative is None:
            cumulative = np.cumsum(self.counts)
        v_low, v_high = self._value_at(low, cumulative), self._value_at(high, cumulative)
        return v_low + (position - low) * (v_high - v_low)

    def percentiles(self, ps: Sequence[int] = PERCENTILES) -> dict[str, float | None]:
        cumulative = np.cumsum(self.counts)
        return {f"p{p}": self.quantile(p / 100, cumulative) for p in ps}

    def _value_at(self, rank: int, cumulative: IntArray) -> float:
        """Estimate of the rank-th smallest value (0-based)."""
        if rank < self.zeros:
            return 0.0
        index = int(np.searchsorted(cumulative, rank - self.zeros, side="right"))
        return 2 * GAMMA ** int(self.keys[index]) / (GAMMA + 1)


def merge_sketches(parts: Sequence[Sketch]) -> Sketch:
    """One sketch from many decoded ones, in one pass (a query's total over all its groups)."""
    if not parts:
        return Sketch()
    keys, inverse = np.unique(np.concatenate([p.keys for p in parts]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([p.counts for p in parts]), minlength=keys.size)
    return Sketch(sum(p.zeros for p in parts), keys, counts.astype(np.int64))


EMPTY = Sketch().to_bytes()


def _count(
    values: Iterable[float], zeros: int = 0, counts: dict[int, int] | None = None, sign: int = 1
) -> tuple[int, dict[int, int]]:
    """Bucket counts of the values (added to `counts`, or taken out with sign -1). One key
    function for every sketch, so a value counted in by one pass is counted out by another."""
    counts = {} if counts is None else counts
    log, ceil = math.log, math.ceil
    for value in values:
        if value < MIN_VALUE:
            zeros += sign
        else:
            key = ceil(log(value) / _LOG_GAMMA)
            counts[key] = counts.get(key, 0) + sign
    return zeros, counts


def adjust(blob: bytes, added: Sequence[float], removed: Sequence[float]) -> bytes | None:
    """The encoded sketch with `added` values counted in and `removed` ones counted out (a run's
    durations when its contribution changes); None if a removed value was not in it. Plain
    Python: a delta touches a few values of many small sketches, where numpy's per-call cost
    dominated."""
    if sorted(added) == sorted(removed):  # the run's durations did not change
        return blob or EMPTY
    zeros, counts = 0, {}
    if len(blob) >= _DTYPE.itemsize:
        words = struct.unpack(f"<{len(blob) // _DTYPE.itemsize}i", blob)
        n = (len(words) - 1) // 2
        zeros, counts = words[0], dict(zip(words[1 : 1 + n], words[1 + n :], strict=True))
    zeros, counts = _count(added, zeros, counts)
    zeros, counts = _count(removed, zeros, counts, -1)
    if zeros < 0 or any(c < 0 for c in counts.values()):
        return None
    keys = sorted(k for k, c in counts.items() if c)
    return struct.pack(f"<{1 + 2 * len(keys)}i", zeros, *keys, *(counts[k] for k in keys))


def merge(blobs: Sequence[bytes]) -> Sketch:
    """One sketch from many encoded ones."""
    return merge_grouped([(None, blob) for blob in blobs]).get(None, Sketch())


def merge_grouped(
    rows: Iterable[tuple[Hashable, bytes | memoryview]],
) -> dict[Hashable, Sketch]:
    """Merge encoded sketches by group key, in one vectorized pass over all of their bytes."""
    decoded = _decode(rows)
    if decoded is None:
        return {}
    groups, zeros, group, keys, counts = decoded
    sketches = _sum_buckets(len(groups), group, keys, counts)
    return {key: Sketch(int(zeros[g]), *sketches.get(g, (_empty(), _empty()))) for key, g in groups.items()}


def quantile_grouped(rows: Iterable[tuple[Hashable, bytes | memoryview]], q: float) -> dict[Hashable, float | None]:
    """merge_grouped(rows)[key].quantile(q) for every group, without building a Sketch per group:
    anomaly detection reads a p95 for each agent and hour, a hundred thousand of them."""
    decoded = _decode(rows)
    if decoded is None:
        return {}
    groups, zeros, group, keys, counts = decoded
    order = np.lexsort((keys, group))  # buckets sorted by (group, key); equal ones need no summing
    group, keys, counts = group[order], keys[order], counts[order]
    n_groups = len(groups)
    n = zeros + np.bincount(group, weights=counts, minlength=n_groups)
    cumulative = np.cumsum(counts)
    first = np.searchsorted(group, np.arange(n_groups))
    base = np.where(first > 0, cumulative[np.maximum(first - 1, 0)] if counts.size else 0, 0)
    position = q * np.maximum(n - 1, 0)
    low = np.floor(position)
    high = np.minimum(low + 1, np.maximum(n - 1, 0))

    def value_at(rank: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not counts.size:
            return np.zeros(n_groups)
        index = np.minimum(np.searchsorted(cumulative, base + rank - zeros, side="right"), counts.size - 1)
        return np.where(rank < zeros, 0.0, 2 * GAMMA ** keys[index].astype(np.float64) / (GAMMA + 1))

    v_low, v_high = value_at(low), value_at(high)
    values = v_low + (position - low) * (v_high - v_low)
    return {key: (float(values[g]) if n[g] else None) for key, g in groups.items()}


def _decode(
    rows: Iterable[tuple[Hashable, bytes | memoryview]],
) -> tuple[dict[Hashable, int], npt.NDArray[Any], IntArray, IntArray, IntArray] | None:
    """Group index per key, zero count per group, and every stored bucket's group, key and count."""
    groups: dict[Hashable, int] = {}
    owners: list[int] = []
    parts: list[bytes | memoryview] = []
    for key, blob in rows:
        owners.append(groups.setdefault(key, len(groups)))
        parts.append(blob)
    if not parts:
        return None
    data = np.frombuffer(b"".join(parts), dtype=_DTYPE)
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64) // _DTYPE.itemsize
    starts = np.cumsum(sizes) - sizes
    group_of_blob = np.asarray(owners, dtype=np.int64)
    zeros = np.bincount(group_of_blob, weights=data[starts], minlength=len(groups))
    # Blob b holds n_b keys at starts[b] + 1 ... and their n_b counts right after them.
    buckets = (sizes - 1) // 2
    first_key = np.repeat(starts + 1 - (np.cumsum(buckets) - buckets), buckets)
    key_at = first_key + np.arange(int(buckets.sum()))
    keys = data[key_at].astype(np.int64)
    counts = data[key_at + np.repeat(buckets, buckets)].astype(np.int64)
    group = np.repeat(group_of_blob, buckets)
    return groups, zeros, group, keys, counts


def _sum_buckets(
    n_groups: int, group: IntArray, keys: IntArray, counts: IntArray
) -> dict[int, tuple[IntArray, IntArray]]:
    """Per group, the distinct keys (ascending) and their summed counts."""
    if not keys.size:
        return {}
    low = int(keys.min())
    width = int(keys.max()) - low + 1
    if n_groups * width <= 4_000_000:  # dense: one bincount over a groups x keys grid
        grid = np.bincount(group * width + (keys - low), weights=counts, minlength=n_groups * width).reshape(
            n_groups, width
        )
        out = {}
        for g in np.unique(group).tolist():
            present = np.flatnonzero(grid[g])
            out[g] = (present + low, grid[g, present].astype(np.int64))
        return out
    order = np.lexsort((keys, group))  # sparse: sort on (group, key), add up equal neighbours
    group, keys, counts = group[order], keys[order], counts[order]
    new = np.ones(keys.size, dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (keys[1:] != keys[:-1])
    first = np.flatnonzero(new)
    summed = np.add.reduceat(counts, first)
    group, keys = group[first], keys[first]
    bounds = np.searchsorted(group, np.arange(n_groups + 1))
    return {g: (keys[bounds[g] : bounds[g + 1]], summed[bounds[g] : bounds[g + 1]]) for g in np.unique(group).tolist()}
