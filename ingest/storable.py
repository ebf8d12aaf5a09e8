"""Pure: make decoded telemetry values fit JSON columns and text fields on every database.

Decoded OTLP values can hold bytes, NaN/Infinity and NUL characters; PostgreSQL's jsonb and
text reject those, so they are converted once here instead of failing a whole batch.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text(value: Any, limit: int = 0) -> str:
    out = "" if value is None else str(value)
    if "\x00" in out:
        out = out.replace("\x00", "")
    return out[:limit] if limit else out


def json_value(value: Any, _depth: int = 0) -> Any:
    kind = type(value)
    if kind is str:  # most values: the fast path of the hot loop
        return value.replace("\x00", "") if "\x00" in value else value
    if _depth <= 64:
        # Clean strings and keys are taken inline: a call per value was most of intake's cost here.
        if kind is dict:
            return {
                (k if type(k) is str and "\x00" not in k else text(k)): (
                    v if type(v) is str and "\x00" not in v else json_value(v, _depth + 1)
                )
                for k, v in value.items()
            }
        if kind is list:
            return [v if type(v) is str and "\x00" not in v else json_value(v, _depth + 1) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return {"bytes_base64": base64.b64encode(value).decode()}
    if _depth > 64:
        return text(value, 1000)
    if isinstance(value, dict):
        return {text(k): json_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_value(v, _depth + 1) for v in value]
    return text(value)


BIGINT_MAX = 2**63 - 1


def count(value: int) -> int:
    """A sum of token counts saturated at what a BIGINT column holds. Each span's counts are
    checked, but a run's or an hour's sum of garbage counts must not fail its write."""
    return max(min(value, BIGINT_MAX), -BIGINT_MAX)


@overload
def money(value: Decimal, max_digits: int = ..., decimal_places: int = ...) -> Decimal: ...
@overload
def money(value: None, max_digits: int = ..., decimal_places: int = ...) -> None: ...
@overload
def money(value: Decimal | None, max_digits: int = ..., decimal_places: int = ...) -> Decimal | None: ...


def money(value: Decimal | None, max_digits: int = 20, decimal_places: int = 10) -> Decimal | None:
    """An amount saturated at the whole dollars NUMERIC(max_digits, decimal_places) holds
    (±9,999,999,999 for the cost columns; whole, because SQLite keeps decimals as doubles and
    9,999,999,999.99… would come back as 10^10 and fail to read). A span may report up to a
    billion dollars; a run or an hour summing a few such spans must still be stored, not make
    the whole batch or the rollup pass fail."""
    if value is None:
        return None
    limit = Decimal(10) ** (max_digits - decimal_places) - 1
    return max(min(value, limit), -limit)


def datetime_from_ns(ns: int) -> datetime:
    """UTC datetime from Unix nanoseconds with integer math (floats lose sub-microsecond precision)."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return _EPOCH + timedelta(seconds=seconds, microseconds=rest // 1000)
