"""PostgreSQL COPY of unsaved model instances: the fast way to write many rows at once.

Values go straight from each instance's `__dict__` (psycopg adapts str, int, bool, Decimal,
bytes and aware datetimes); JSON goes as its text. Django's per-field get_db_prep_save, which
bulk_create and executemany need, cost more than the COPY itself for spans and rollup rows.
Callers set what Django would have filled in (auto_now fields, saturated measures) first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
from django.db import connection
from django.db.models import JSONField, Model


def columns(model: type[Model]) -> str:
    """The quoted column list of the model's concrete fields (the primary key left to the database)."""
    return ", ".join(connection.ops.quote_name(str(f.column)) for f in _fields(model))


def copy_instances(model: type[Model], objs: Iterable[Model], *, table: str = "") -> None:
    """COPY the instances into the model's table (or `table`, which has the same columns)."""
    copy_rows(model, (obj.__dict__ for obj in objs), table=table)


def copy_rows(model: type[Model], rows: Iterable[dict[str, Any]], *, table: str = "") -> None:
    """COPY rows given as {attname: value} (every concrete field but the primary key)."""
    fields = _fields(model)
    names = [f.attname for f in fields]
    json_at = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
    target = connection.ops.quote_name(table or model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {target} ({columns(model)}) FROM STDIN") as copy,
    ):
        for row in rows:
            values: list[Any] = [row[name] for name in names]
            for i in json_at:
                if values[i] is not None:  # as JSON text, which COPY parses into jsonb
                    values[i] = _json_text(values[i])
            copy.write_row(values)


def _fields(model: type[Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _json_text(value: Any) -> str:
    """orjson (several times faster on message-sized JSON); `json` for what orjson refuses
    (integers beyond 64 bits, which jsonb takes as numeric)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)
