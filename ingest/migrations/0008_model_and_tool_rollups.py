import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ingest', '0007_project_redaction'),
    ]

    operations = [
        migrations.CreateModel(
            name='ModelRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('calls', models.PositiveIntegerField(default=0)),
                ('failed_calls', models.PositiveIntegerField(default=0)),
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
                ('model', models.CharField(blank=True, max_length=200)),
                ('provider', models.CharField(blank=True, max_length=100)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ingest.project')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('project', 'period', 'bucket', 'model', 'provider'), name='one_model_rollup_row')],
            },
        ),
        migrations.CreateModel(
            name='ToolRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('calls', models.PositiveIntegerField(default=0)),
                ('errors', models.PositiveIntegerField(default=0)),
                ('duration_sketch', models.BinaryField()),
                ('period', models.CharField(choices=[('hour', 'Hour'), ('day', 'Day (UTC)')], max_length=4)),
                ('bucket', models.DateTimeField()),
                ('tool_name', models.CharField(blank=True, max_length=200)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ingest.project')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('project', 'period', 'bucket', 'tool_name'), name='one_tool_rollup_row')],
            },
        ),
    ]
