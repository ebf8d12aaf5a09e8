"""Spans' project and key references are no longer checked by PostgreSQL on each insert.

Only intake writes spans, with the project of the key it authenticated; the per-row check was
a locking lookup of the same project and key rows by every concurrent request, about a fifth of
PostgreSQL's intake work. Deletes still cascade through Django.

The constraints are dropped by name: AlterField would do the same on PostgreSQL, but on SQLite
it would copy the whole table, where a single writer gains nothing from it. Reversing re-adds
them NOT VALID, so existing spans are not re-checked under lock.
"""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = {"project_id": "ingest_project", "api_key_id": "ingest_apikey"}


def drop_foreign_keys(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "ingest_span")
    for name, info in constraints.items():
        if info["foreign_key"] and info["columns"] in ([column] for column in COLUMNS):
            schema_editor.execute(f"ALTER TABLE ingest_span DROP CONSTRAINT {schema_editor.quote_name(name)}")


def add_foreign_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, table in COLUMNS.items():
        schema_editor.execute(
            f"ALTER TABLE ingest_span ADD CONSTRAINT ingest_span_{column}_fk FOREIGN KEY ({column}) "
            f"REFERENCES {table} (id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0011_run_composite_indexes_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_foreign_keys, add_foreign_keys)],
            state_operations=[
                migrations.AlterField(
                    model_name="span",
                    name="api_key",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="ingest.apikey",
                    ),
                ),
                migrations.AlterField(
                    model_name="span",
                    name="project",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spans",
                        to="ingest.project",
                    ),
                ),
            ],
        ),
    ]
