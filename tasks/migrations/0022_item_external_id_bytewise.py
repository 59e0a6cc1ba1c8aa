"""External ids compare byte by byte on PostgreSQL (collation "C"), issue 20.

They are matched for equality (the project's unique constraint, an import's look-up of the ids a project has)
and never need a language's order; under the database's own collation every comparison in their unique index
goes through the C library's `strcoll` (en_US.UTF-8: several passes per comparison). Measured with 1M rows
under C.UTF-8: a COPY into a table with that index took 2.25-2.39 s instead of 2.55-2.77 s.

PostgreSQL only: SQLite compares bytes already and has no collation named "C". Django's model state does not
record it (a field's `db_collation` would be sent to SQLite too): a later migration altering the column's type
must keep `COLLATE "C"` itself (`tests/tasks/test_item_indexes.py` checks it).
"""

from django.db import migrations


def _alter(collation: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("tasks", "Item")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN external_id TYPE varchar(255) COLLATE {collation}")
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0021_assignment_item_no_index'),
    ]

    operations = [
        migrations.RunPython(_alter('"C"'), _alter('"default"')),
    ]
