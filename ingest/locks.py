"""PostgreSQL advisory lock keys: one signed 64-bit integer per thing two transactions must not
write at the same time (a trace being stored, a rollup bucket being recomputed)."""

from __future__ import annotations

import hashlib


def advisory_key(*parts: str | int) -> int:
    """The key of the lock named by `parts`, for pg_advisory_xact_lock and pg_try_advisory_xact_lock:
    the first 8 bytes of the BLAKE2b of the parts joined with ":", read as a big-endian signed
    integer (the range of PostgreSQL's bigint).

    The key of a name never changes: during a rolling upgrade the old version and the new one
    must take the same lock for the same trace or bucket, or both could write it at once. So a
    caller keeps its parts (and their order and spelling) as they are; a new kind of lock starts
    with a word of its own ("rollup", ...) so its names cannot meet another kind's."""
    name = ":".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
