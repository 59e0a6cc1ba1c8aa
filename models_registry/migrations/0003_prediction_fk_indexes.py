"""Predictions lose their two single-column foreign-key indexes, which the composite ones already serve
(prediction_unique leads with the item, prediction_model_conf with the version): two index inserts fewer
per prediction, a fifth of what storing a prediction costs (pre-labeling writes one per item)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('models_registry', '0002_retraining'),
    ]

    operations = [
        migrations.AlterField(
            model_name='prediction',
            name='item',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='tasks.item'),
        ),
        migrations.AlterField(
            model_name='prediction',
            name='model_version',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='models_registry.modelversion'),
        ),
    ]
