# Job kinds are registered by the apps (tasks.jobs.register_kind), not listed here; the audit
# trail's model now lives in the `audit` app (its table is unchanged, see audit 0001).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tasks", "0008_leaner_item_indexes"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(max_length=16),
        ),
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditEvent")]),
    ]
