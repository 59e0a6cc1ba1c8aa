"""Items' search vectors move out of `tasks_item` into `tasks_itemtext`, off the write path.

The generated column `text_search` (0012) made PostgreSQL parse an item's text on every INSERT and
every UPDATE of the row (16 µs each: 16 s per million imported items, and again for every pre-label
UPDATE). Now (see tasks/text_search.py): a row trigger builds the vector of an item inserted outside
an import and rebuilds it when `data` changes (`UPDATE OF data` only); an import defers its items'
vectors to a job. The GIN index keeps its name, `item_text_search`, on the new table.

Existing vectors are copied over as they are, before the column is dropped. PostgreSQL only: on
SQLite the tables exist and stay empty (search is a substring match there).
"""
import django.db.models.deletion
from django.db import migrations, models

import tasks.models
from common.db_operations import PostgresOnlySQL

VECTOR = "to_tsvector('english'::regconfig, COALESCE((NEW.data ->> 'text'), ''))"

FORWARD = [
    "INSERT INTO tasks_itemtext (item_id, project_id, vector) "
    "SELECT id, project_id, text_search FROM tasks_item",
    "ALTER TABLE tasks_item DROP COLUMN IF EXISTS text_search",  # and its index
    "ALTER TABLE tasks_itemtext ADD CONSTRAINT tasks_itemtext_item_fk FOREIGN KEY (item_id) "
    "REFERENCES tasks_item (id) ON DELETE CASCADE",
    "CREATE INDEX item_text_search ON tasks_itemtext USING gin (vector)",
    f"""CREATE FUNCTION tasks_item_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tasks_itemtext (item_id, project_id, vector) VALUES (NEW.id, NEW.project_id, {VECTOR})
    ON CONFLICT (item_id) DO UPDATE SET vector = EXCLUDED.vector;
    RETURN NULL;
END $$""",
    # Not for an import's COPY, which sets hitl.defer_text_search and records its ids as pending.
    "CREATE TRIGGER item_text_insert AFTER INSERT ON tasks_item FOR EACH ROW "
    "WHEN (current_setting('hitl.defer_text_search', true) IS DISTINCT FROM 'on') "
    "EXECUTE FUNCTION tasks_item_text()",
    "CREATE TRIGGER item_text_update AFTER UPDATE OF data ON tasks_item FOR EACH ROW "
    "WHEN (OLD.data IS DISTINCT FROM NEW.data) EXECUTE FUNCTION tasks_item_text()",
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS item_text_update ON tasks_item",
    "DROP TRIGGER IF EXISTS item_text_insert ON tasks_item",
    "DROP FUNCTION IF EXISTS tasks_item_text()",
    "ALTER TABLE tasks_item ADD COLUMN IF NOT EXISTS text_search tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english'::regconfig, COALESCE((data ->> 'text'), ''))) STORED",
    "CREATE INDEX IF NOT EXISTS item_text_search_0012 ON tasks_item USING gin (text_search)",
    "DROP INDEX IF EXISTS item_text_search",
    "ALTER INDEX item_text_search_0012 RENAME TO item_text_search",
]


class Migration(migrations.Migration):

    dependencies = [
        ("tasks", "0014_confusion_fit"),
    ]

    operations = [
        migrations.CreateModel(
            name="ItemText",
            fields=[
                ("item_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("project_id", models.BigIntegerField()),
                ("vector", tasks.models.SearchVectorField()),
            ],
        ),
        migrations.CreateModel(
            name="ItemTextPending",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("first_id", models.BigIntegerField()),
                ("last_id", models.BigIntegerField()),
                ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+",
                                              to="tasks.project")),
            ],
        ),
        PostgresOnlySQL(sql=FORWARD, reverse_sql=BACKWARD),
    ]
