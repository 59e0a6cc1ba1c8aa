# The audit trail moved here from `tasks`; its table (tasks_auditevent) stays as it is, so this
# migration only tells Django's state where the model now lives (tasks 0009 forgets it there).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("tasks", "0008_leaner_item_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name="AuditEvent",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("project_id", models.BigIntegerField(null=True)),
                    ("item_id", models.BigIntegerField(null=True)),
                    ("action", models.CharField(max_length=40)),
                    ("payload", models.JSONField(default=dict)),
                    ("created_at", models.DateTimeField(auto_now_add=True)),
                    ("user", models.ForeignKey(db_constraint=False, null=True,
                                               on_delete=django.db.models.deletion.DO_NOTHING, related_name="+",
                                               to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    "db_table": "tasks_auditevent",
                    "ordering": ["id"],
                    "indexes": [models.Index(fields=["project_id", "id"], name="audit_project"),
                                models.Index(fields=["item_id", "id"], name="audit_item")],
                },
            ),
        ]),
    ]
