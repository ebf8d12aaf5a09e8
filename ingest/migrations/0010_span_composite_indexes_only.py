"""Spans keep only their composite indexes (every read is by project, then trace or time).

The indexes are dropped by name rather than through AlterField, which on PostgreSQL would
drop and re-add the project foreign key and so re-check every span while intake waits, and on
SQLite would copy the table. Reversing it does not re-create them: nothing reads them.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = ["ingest_span_kind_06097679", "ingest_span_kind_06097679_like", "ingest_span_project_id_7d5e7f1a"]


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0009_user_total_rollup"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"', migrations.RunSQL.noop) for name in DROPPED
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="span",
                    name="kind",
                    field=models.CharField(max_length=16),
                ),
                migrations.AlterField(
                    model_name="span",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spans",
                        to="ingest.project",
                    ),
                ),
            ],
        ),
    ]
