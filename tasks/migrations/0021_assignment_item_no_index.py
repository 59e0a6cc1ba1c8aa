"""Leases lose the index of their own on the item: `assignment_unique` starts with it, and each index costs
every lease an insert (issue 20)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0020_item_past_queue'),
    ]

    operations = [
        migrations.AlterField(
            model_name='assignment',
            name='item',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='assignments', to='tasks.item'),
        ),
    ]
