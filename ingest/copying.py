"""PostgreSQL bulk writes of rows given as {attname: value}: COPY, and a one-statement upsert.

Values go straight to psycopg (which adapts str, int, bool, Decimal, bytes and aware
datetimes); JSON goes as its text. Django's per-field get_db_prep_save and SQL compiler, which
bulk_create needs, cost more than the write itself for spans, runs and rollup rows.
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
    names, json_at = _layout(model)
    target = connection.ops.quote_name(table or model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {target} ({columns(model)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(_values(row, names, json_at))


UPSERT_BATCH = 500  # rows per statement: a run has 33 columns, PostgreSQL takes 65,535 parameters


def upsert_rows(
    model: type[Model], rows: list[dict[str, Any]], *, unique_fields: list[str], update_fields: list[str]
) -> None:
    """INSERT the rows, UPSERT_BATCH per statement; a row whose `unique_fields` exist updates
    `update_fields` instead (bulk_create(update_conflicts=True) without Django's per-value
    preparation and SQL compiler)."""
    names, json_at = _layout(model)
    column = {f.name: connection.ops.quote_name(f.column) for f in _fields(model)}
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    head = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns(model)}) VALUES"
    tail = "ON CONFLICT ({}) DO UPDATE SET {}".format(
        ", ".join(column[name] for name in unique_fields),
        ", ".join(f"{column[name]} = EXCLUDED.{column[name]}" for name in update_fields),
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_BATCH):
            batch = rows[start : start + UPSERT_BATCH]
            params = [value for row in batch for value in _values(row, names, json_at)]
            cursor.execute(f"{head} {', '.join([placeholders] * len(batch))} {tail}", params)


def _layout(model: type[Model]) -> tuple[list[str], list[int]]:
    """The attribute names of the written columns, and the positions of the JSON ones."""
    fields = _fields(model)
    return [f.attname for f in fields], [i for i, f in enumerate(fields) if isinstance(f, JSONField)]


def _values(row: dict[str, Any], names: list[str], json_at: list[int]) -> list[Any]:
    values: list[Any] = [row[name] for name in names]
    for i in json_at:
        if values[i] is not None:  # as JSON text, which PostgreSQL parses into jsonb
            values[i] = _json_text(values[i])
    return values


def _fields(model: type[Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _json_text(value: Any) -> str:
    """orjson (several times faster on message-sized JSON); `json` for what orjson refuses
    (integers beyond 64 bits, which jsonb takes as numeric)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)
