"""Runs keep only their composite indexes (every read is by project first).

The indexes are dropped by name rather than through AlterField, which on PostgreSQL would
drop and re-add the project foreign key and so re-check every run while intake waits, and on
SQLite would copy the table. Reversing it does not re-create them: nothing reads them.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = ["ingest_run_agent_name_3b118ba9", "ingest_run_agent_name_3b118ba9_like", "ingest_run_project_id_44eadd29"]


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0010_span_composite_indexes_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"', migrations.RunSQL.noop) for name in DROPPED
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="run",
                    name="agent_name",
                    field=models.CharField(blank=True, max_length=200),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="ingest.project",
                    ),
                ),
            ],
        ),
    ]
