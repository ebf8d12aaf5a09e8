"""Writing rollup rows: one INSERT path and one UPDATE path for repairs and deltas, each
saturating a summed measure at its column's capacity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import BigIntegerField, DecimalField

from aggregates.models import RollupModel
from ingest import copying, storable

Row = dict[str, Any]  # a rollup row to insert: column attname -> value


def insert_rows(model: type[models.Model], rows: list[Row]) -> None:
    """On PostgreSQL a COPY (the caller holds the project's rollup lock, so nothing conflicts):
    Django's per-field preparation was half of a busy hour's recompute. Elsewhere one prepared
    INSERT through executemany."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    fitted = [(f, _capacity(f)) for f in fields if isinstance(f, DecimalField | BigIntegerField)]
    for row in rows:
        for f, capacity in fitted:
            if not -capacity < row[f.attname] < capacity:  # rare: no call per value
                row[f.attname] = fit(f, row[f.attname])
    if connection.vendor == "postgresql":
        copying.copy_rows(model, rows)
        return
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608  (names from the model, values bound)
        quote(model._meta.db_table), copying.columns(model), ", ".join(["%s"] * len(fields))
    )
    params = [[f.get_db_prep_save(row[f.attname], connection) for f in fields] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(model: RollupModel, measures: tuple[str, ...], updates: list[tuple[int, list[Any], bytes]]) -> None:
    """Set the measures and the sketch of rows by id: (id, measure values, sketch bytes)."""
    if not updates:
        return
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_name[name] for name in measures]
    sketch_field = by_name["duration_sketch"]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column or f.attname)} = %s" for f in [*fields, sketch_field])
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE id = %s"  # noqa: S608  (names from the model)
    if connection.vendor == "postgresql":  # psycopg adapts ints, Decimals and bytes itself
        params = [
            [*(fit(f, v) for f, v in zip(fields, values, strict=True)), sketch, pk] for pk, values, sketch in updates
        ]
    else:
        params = [
            [
                *(f.get_db_prep_save(fit(f, v), connection) for f, v in zip(fields, values, strict=True)),
                sketch_field.get_db_prep_save(sketch, connection),
                pk,
            ]
            for pk, values, sketch in updates
        ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _capacity(field: Any) -> int:
    if isinstance(field, DecimalField):
        whole_digits: int = (field.max_digits or 20) - (field.decimal_places or 0)
        return int(10**whole_digits) - 1
    return storable.BIGINT_MAX


def fit(field: Any, value: Any) -> Any:
    """A summed measure saturated at its column's capacity: an hour summing garbage costs or token
    counts must still be written, not stay dirty and fail again on every pass."""
    if isinstance(field, DecimalField) and isinstance(value, Decimal):
        return storable.money(value, field.max_digits or 20, field.decimal_places or 0)
    if isinstance(field, BigIntegerField) and isinstance(value, int):
        return storable.count(value)
    return value
