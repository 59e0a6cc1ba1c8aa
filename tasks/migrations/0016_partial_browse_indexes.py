"""Three browse indexes become partial: they hold only the items their filter can match.

An imported item has no final value, no final source and no confidence, so it no longer pays an
insert into `item_browse_source`, `item_browse_label` and `item_browse_confidence` (three of the
eight index inserts of every imported row); a pre-labeled item that is not accepted skips the first
two. Each filter still implies its index's condition, so the planner uses the index as before:
`final_source = 'model'` implies `final_source <> ''`, `(final_value -> 'label') = '"x"'` and
`confidence >= x` are strict, so they imply IS NOT NULL. The source filter "none" (`final_source = ''`)
matches the items left out; it walks `item_browse_id` in id order, where such items are the many.

PostgreSQL only, like the indexes of `0012_browse_indexes`.
"""
from django.db import migrations

from common.db_operations import PostgresOnlySQL

# name: (the index as 0012 made it, the partial index)
INDEXES = {
    "item_browse_source": ("tasks_item (project_id, final_source, id)",
                           "tasks_item (project_id, final_source, id) WHERE final_source <> ''"),
    "item_browse_confidence": ("tasks_item (project_id, confidence, id)",
                               "tasks_item (project_id, confidence, id) WHERE confidence IS NOT NULL"),
    "item_browse_label": ("tasks_item (project_id, (final_value -> 'label'), id)",
                          "tasks_item (project_id, (final_value -> 'label'), id) "
                          "WHERE (final_value -> 'label') IS NOT NULL"),
}


def _replace(name: str, target: str) -> str:
    return f"DROP INDEX IF EXISTS {name}; CREATE INDEX {name} ON {target}"


class Migration(migrations.Migration):

    dependencies = [
        ("tasks", "0015_item_text_search"),
    ]

    operations = [
        PostgresOnlySQL(sql=_replace(name, partial), reverse_sql=_replace(name, full))
        for name, (full, partial) in INDEXES.items()
    ]
