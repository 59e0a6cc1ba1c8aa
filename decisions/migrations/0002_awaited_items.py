"""Items of decisions still pending are awaited (tasks.Item.awaited), so that a person's answer still decides them
at once rather than at the sweep."""
from django.db import migrations


def mark_awaited(apps, schema_editor):
    Item = apps.get_model("tasks", "Item")
    Decision = apps.get_model("decisions", "Decision")
    Item.objects.filter(pk__in=Decision.objects.filter(status="pending").values("item_id")).update(awaited=True)


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0001_initial"),
        ("tasks", "0018_item_awaited"),
    ]

    operations = [migrations.RunPython(mark_awaited, migrations.RunPython.noop)]
