"""Indexes of the data browser (annotations.browse): an annotator's items, and decided disagreements.

PostgreSQL only (partial indexes written as SQL); SQLite projects are small and scan.
"""
from django.db import migrations

from common.db_operations import PostgresOnlySQL

INDEXES = {
    # Items a user annotated (not skipped), in item order: the `annotator` filter.
    "annotation_browse_user": "annotations_annotation (project_id, user_id, item_id) WHERE NOT skipped",
    # Items a reviewer decided after their annotators disagreed: the `disagreement` filter.
    "review_browse_dispute": ("annotations_reviewdecision (project_id, item_id) "
                              "WHERE reason IN ('disagreement', 'low_agreement')"),
}


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0002_reviewdecision_corrections_reviewlease"),
    ]

    operations = [
        PostgresOnlySQL(sql=f"CREATE INDEX IF NOT EXISTS {name} ON {target}",
                        reverse_sql=f"DROP INDEX IF EXISTS {name}")
        for name, target in INDEXES.items()
    ]
