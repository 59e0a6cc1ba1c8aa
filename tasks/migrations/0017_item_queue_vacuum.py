"""The item table is vacuumed after a few thousand changed rows, not after a fifth of the table.

Every answer that settles an item leaves a dead entry at the head of `item_queue` (the partial index `next`
walks in queue order): the settled row's old version stays in the index until a vacuum removes it. With
PostgreSQL's default (a vacuum after 20% of the rows changed: 200,000 answers at a million items) `next` read
some 80 extra index and table pages after 15,000 answers on a 100,000-item project (0.6 ms instead of 0.1);
after a vacuum, 12. Here the threshold is 2,000 changed rows plus 0.5% of the table (7,000 at a million
items); a vacuum that finds few dead rows skips the indexes, and one that does not takes about a quarter of a
second at 100,000 items. PostgreSQL only (SQLite has no vacuum settings per table).
"""
from django.db import migrations

from common.db_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("tasks", "0016_partial_browse_indexes")]

    operations = [
        PostgresOnlySQL(
            sql="ALTER TABLE tasks_item SET (autovacuum_vacuum_scale_factor = 0.005, "
                "autovacuum_vacuum_threshold = 2000)",
            reverse_sql="ALTER TABLE tasks_item RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)",
        ),
    ]
