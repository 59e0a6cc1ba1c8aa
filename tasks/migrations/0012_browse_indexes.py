"""Indexes of the data browser (annotations.browse): keyset pages by id under each filter.

PostgreSQL only (expression, partial and GIN indexes, and a generated column); SQLite projects are
small and scan.

Full-text search keeps each item's tsvector in a generated column, `text_search`, that the model does
not know of (PostgreSQL computes it on every insert and update; Django never reads or writes it).
Stored, not an expression index: a page of a common word walks the items in id order and tests each
one's vector, which costs a comparison here but parsing the text with an expression index (16 µs a
row, 400 ms for a phrase at a million items). Adding it rewrites the table once.
"""
from django.db import migrations

from common.db_operations import PostgresOnlySQL

TEXT_VECTOR = "to_tsvector('english'::regconfig, COALESCE((data ->> 'text'), ''))"

INDEXES = {
    # Every page of a project in id order (the queue's indexes are partial or lead with status).
    "item_browse_id": "tasks_item (project_id, id)",
    "item_browse_source": "tasks_item (project_id, final_source, id)",
    "item_browse_confidence": "tasks_item (project_id, confidence, id)",
    # The final value's label (classification: {"label": ...}), as the ORM's `final_value__label` writes it.
    "item_browse_label": "tasks_item (project_id, (final_value -> 'label'), id)",
    # Items in review because their annotators disagreed; few, so a small partial index.
    "item_browse_dispute": "tasks_item (project_id, id) WHERE review_reason IN ('disagreement', 'low_agreement')",
    "item_text_search": "tasks_item USING gin (text_search)",
}


class Migration(migrations.Migration):

    dependencies = [
        ("tasks", "0011_project_label_colors"),
    ]

    operations = [
        PostgresOnlySQL(
            sql=f"ALTER TABLE tasks_item ADD COLUMN IF NOT EXISTS text_search tsvector "
                f"GENERATED ALWAYS AS ({TEXT_VECTOR}) STORED",
            reverse_sql="ALTER TABLE tasks_item DROP COLUMN IF EXISTS text_search",
        ),
    ] + [
        PostgresOnlySQL(sql=f"CREATE INDEX IF NOT EXISTS {name} ON {target}",
                        reverse_sql=f"DROP INDEX IF EXISTS {name}")
        for name, target in INDEXES.items()
    ]
