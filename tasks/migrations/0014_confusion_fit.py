import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0013_annotator_quality'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConfusionFit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('fitted_through', models.BigIntegerField(default=0)),
                ('annotations', models.PositiveIntegerField(default=0)),
                ('data', models.JSONField(default=dict)),
                ('fitted_at', models.DateTimeField(auto_now=True)),
                ('project', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                                 related_name='confusion_fit', to='tasks.project')),
            ],
        ),
    ]
