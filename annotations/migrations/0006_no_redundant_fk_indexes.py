"""Annotations lose the indexes of their own on the project and the item: `annotation_user` starts with the
project and `annotation_unique` with the item, and each index costs every submission and imported annotation an
insert (issue 20)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0005_stats_snapshot'),
        ('tasks', '0021_assignment_item_no_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='annotation',
            name='item',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='annotations', to='tasks.item'),
        ),
        migrations.AlterField(
            model_name='annotation',
            name='project',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tasks.project'),
        ),
    ]
