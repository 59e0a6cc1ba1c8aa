from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0004_project_gold_rate'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='consensus_iou',
            field=models.FloatField(default=0.5),
        ),
    ]
