import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Destinations get a kind (Slack, webhook, PagerDuty, e-mail). SlackDestination becomes
    Destination in the same table (budgets_slackdestination), its webhook_url becomes url in the
    same column: every existing row is a Slack destination (the kind's default) and keeps working.
    Only the columns of the many-to-many tables that name the model follow its new name."""

    dependencies = [
        ('budgets', '0008_anomaly_alert_columns'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.AlterModelTable(name='slackdestination', table='budgets_slackdestination'),
        migrations.RenameModel(old_name='SlackDestination', new_name='Destination'),
        migrations.AlterField(
            model_name='destination',
            name='webhook_url',
            field=models.URLField(db_column='webhook_url', max_length=500, validators=[django.core.validators.URLValidator(schemes=['http', 'https'])]),
        ),
        migrations.RenameField(model_name='destination', old_name='webhook_url', new_name='url'),
        migrations.AlterField(
            model_name='destination',
            name='url',
            field=models.URLField(blank=True, db_column='webhook_url', help_text='Slack: the incoming-webhook URL; webhook: the URL AgentLedger POSTs JSON to', max_length=500, validators=[django.core.validators.URLValidator(schemes=['http', 'https'])], verbose_name='URL'),
        ),
        migrations.AddField(
            model_name='destination',
            name='kind',
            field=models.CharField(choices=[('slack', 'Slack'), ('webhook', 'Webhook'), ('pagerduty', 'PagerDuty'), ('email', 'E-mail')], default='slack', max_length=10),
        ),
        migrations.AddField(
            model_name='destination',
            name='secret',
            field=models.CharField(blank=True, help_text='webhook, optional: signs each body (X-AgentLedger-Signature: sha256=HMAC of the body)', max_length=200),
        ),
        migrations.AddField(
            model_name='destination',
            name='routing_key',
            field=models.CharField(blank=True, help_text='PagerDuty: the integration key of an Events API v2 integration', max_length=100),
        ),
        migrations.AddField(
            model_name='destination',
            name='to',
            field=models.CharField(blank=True, help_text='e-mail: one or more addresses, comma separated', max_length=1000, verbose_name='to'),
        ),
        migrations.AlterField(
            model_name='destination',
            name='project',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='destinations', to='tenancy.project'),
        ),
        migrations.AlterField(
            model_name='destination',
            name='disabled_reason',
            field=models.CharField(blank=True, help_text='set when the destination refused for good; clear it to re-enable', max_length=300),
        ),
        migrations.AlterField(
            model_name='destination',
            name='daily_digest',
            field=models.BooleanField(default=False, help_text="send yesterday's cost by agent every morning (the project's time zone); not for PagerDuty, where a digest is no incident"),
        ),
    ]
