import uuid

import django.db.models.deletion
from django.db import migrations, models


def mark_rolled_up_hours_dirty(apps, schema_editor):
    """The new tables are filled by recomputing every hour that has rollups: the beat job does it
    in the background after the upgrade (newest hours first), `manage.py rollup` at once."""
    RollupDirty = apps.get_model("ingest", "RollupDirty")
    RunRollup = apps.get_model("ingest", "RunRollup")
    token = uuid.uuid4().hex
    hours = RunRollup.objects.filter(period="hour").values_list("project_id", "bucket").order_by().distinct()
    RollupDirty.objects.bulk_create(
        [RollupDirty(project_id=project_id, period="hour", bucket=bucket, token=token) for project_id, bucket in hours],
        batch_size=1000,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('ingest', '0008_model_and_tool_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='UserTotalRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('runs', models.PositiveIntegerField(default=0)),
                ('failed_runs', models.PositiveIntegerField(default=0)),
                ('llm_calls', models.PositiveIntegerField(default=0)),
                ('failed_llm_calls', models.PositiveIntegerField(default=0)),
                ('tool_calls', models.PositiveIntegerField(default=0)),
                ('tool_errors', models.PositiveIntegerField(default=0)),
                ('input_tokens', models.BigIntegerField(default=0)),
                ('output_tokens', models.BigIntegerField(default=0)),
                ('cache_read_tokens', models.BigIntegerField(default=0)),
                ('cache_write_tokens', models.BigIntegerField(default=0)),
                ('reasoning_tokens', models.BigIntegerField(default=0)),
                ('cost_usd', models.DecimalField(decimal_places=10, default=0, max_digits=20)),
                ('unpriced_calls', models.PositiveIntegerField(default=0)),
                ('duration_sketch', models.BinaryField()),
                ('period', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day (UTC)')], max_length=4)),
                ('bucket', models.DateTimeField()),
                ('user_id', models.CharField(blank=True, max_length=200)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ingest.project')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('project', 'period', 'bucket', 'user_id'), name='one_user_total_rollup_row')],
            },
        ),
        migrations.RunPython(mark_rolled_up_hours_dirty, migrations.RunPython.noop),
    ]
