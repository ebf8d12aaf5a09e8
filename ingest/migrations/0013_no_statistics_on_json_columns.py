"""PostgreSQL keeps no planner statistics on the JSON columns of spans and runs.

No query filters or joins on them, yet ANALYZE (autovacuum's, as the tables grow with intake)
read and summarized every sampled message: a third of its work on the spans table. Other
databases have no such setting.
"""

from django.db import migrations

COLUMNS = {
    "ingest_span": ["input", "output", "attributes", "resource", "events", "unmapped", "run_hints"],
    "ingest_run": ["input", "output"],
}


def statistics(target):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, columns in COLUMNS.items():
            alters = ", ".join(f"ALTER COLUMN {column} SET STATISTICS {target}" for column in columns)
            schema_editor.execute(f"ALTER TABLE {table} {alters}")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0012_span_foreign_keys_unchecked"),
    ]

    operations = [migrations.RunPython(statistics(0), statistics(-1))]
