"""Full-text search vectors of items (`ItemText`), kept off the write path. PostgreSQL only.

Parsing an item's text into a tsvector costs about 16 µs; as a generated column of `tasks_item` it
was paid by every INSERT of an import (16 s a million items) and every UPDATE of an item (pre-label,
routing, labeling). The vector now lives in its own table, `tasks_itemtext`:

- an item inserted one at a time gets its vector at once, from a row trigger (migration 0015);
- an import sets `hitl.defer_text_search` for its transaction, so its COPY skips the trigger, and
  records its new ids as a pending range (`ItemTextPending`) in the same transaction; after it
  commits, a job (`dataio.build_text_search`) builds the vectors in set-based batches of ids;
- a change of an item's `data` rebuilds its vector (trigger `UPDATE OF data`); other UPDATEs of the
  item never touch it.

Every item therefore has a vector or lies in a pending range of its project. Until its vector is
built, search computes it on the fly (`MATCH_SQL`, `pending_matches`): same results, just slower, for
the minutes after a large import.
"""
from __future__ import annotations

from django.db import connection, transaction

from tasks.models import ItemTextPending

DEFER_SETTING = "hitl.defer_text_search"
# Ids per build step (a few hundred ms of PostgreSQL's time); each step is its own transaction.
BUILD_BATCH = 20000


def vector_sql(table: str) -> str:
    """The tsvector of `table`'s item data (its `text`, English stemming)."""
    return f"to_tsvector('english'::regconfig, COALESCE(({table}.\"data\" ->> 'text'), ''))"


QUERY_SQL = "websearch_to_tsquery('english'::regconfig, %s)"
# An item of the outer query (`tasks_item`) matches: its built vector, else the one it would get.
_ITEM = '"tasks_item"'
MATCH_SQL = (f"COALESCE((SELECT t.vector FROM tasks_itemtext t WHERE t.item_id = {_ITEM}.\"id\"), "
             f"{vector_sql(_ITEM)}) @@ {QUERY_SQL}")


def enabled() -> bool:
    return connection.vendor == "postgresql"


def defer(on: bool = True) -> None:
    """Inserts of the current transaction build no vectors (on) or do again (off): see `mark_pending`."""
    if enabled():
        with connection.cursor() as cur:
            cur.execute("SELECT set_config(%s, %s, true)", [DEFER_SETTING, "on" if on else "off"])


def mark_pending(project_id: int, first_id: int, last_id: int) -> None:
    """Ids `first_id`..`last_id` of the project were inserted without vectors (in this transaction)."""
    if enabled() and first_id <= last_id:
        ItemTextPending.objects.create(project_id=project_id, first_id=first_id, last_id=last_id)


def has_pending(project_id: int) -> bool:
    return enabled() and ItemTextPending.objects.filter(project_id=project_id).exists()


def build_step(project_id: int, batch: int = BUILD_BATCH) -> bool:
    """Build the vectors of up to `batch` pending ids of the project; whether any remain.

    One pending range at a time, from its low end, in one transaction with the range's update, so a
    step is never half done; ranges another worker is building are left to it (SKIP LOCKED).
    """
    if not enabled():
        return False
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT id, first_id, last_id FROM tasks_itemtextpending WHERE project_id = %s "
                    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", [project_id])
        row = cur.fetchone()
        if row is None:
            return False
        pk, first, last = row
        high = min(first + batch - 1, last)
        cur.execute(f"INSERT INTO tasks_itemtext (item_id, project_id, vector) "
                    f"SELECT i.id, i.project_id, {vector_sql('i')} FROM tasks_item i "
                    f"WHERE i.id BETWEEN %s AND %s ON CONFLICT (item_id) DO NOTHING", [first, high])
        if high >= last:
            cur.execute("DELETE FROM tasks_itemtextpending WHERE id = %s", [pk])
        else:
            cur.execute("UPDATE tasks_itemtextpending SET first_id = %s WHERE id = %s", [high + 1, pk])
    return has_pending(project_id)


def pending_projects() -> list[int]:
    """The projects with ranges of items whose vectors are not built yet."""
    if not enabled():
        return []
    return list(ItemTextPending.objects.order_by().values_list("project_id", flat=True).distinct())


def build(project_id: int) -> None:
    """Build every pending vector of the project (tests, management)."""
    while build_step(project_id):
        pass


def pending_matches(project_id: int, q: str, after: int | None = None, before: int | None = None
                    ) -> tuple[str, list]:
    """SQL (and its parameters) of the ids of the project's items that match `q` but whose vectors are
    not built yet: the pending ranges' items without a vector, each parsed on the fly."""
    bounds = "".join(f" AND i.id {op} %s" for op, v in ((">", after), ("<", before)) if v is not None)
    sql = (f"SELECT i.id FROM tasks_itemtextpending r JOIN tasks_item i ON i.id BETWEEN r.first_id AND r.last_id "
           f"WHERE r.project_id = %s AND i.project_id = %s{bounds} "
           f"AND NOT EXISTS (SELECT 1 FROM tasks_itemtext t WHERE t.item_id = i.id) "
           f"AND {vector_sql('i')} @@ {QUERY_SQL}")
    return sql, [project_id, project_id, *(v for v in (after, before) if v is not None), q]


def built_matches(project_id: int, q: str, after: int | None = None, before: int | None = None
                  ) -> tuple[str, list]:
    """SQL (and its parameters) of the ids of the project's items whose built vector matches `q`
    (the GIN index `item_text_search`)."""
    bounds = "".join(f" AND t.item_id {op} %s" for op, v in ((">", after), ("<", before)) if v is not None)
    sql = f"SELECT t.item_id FROM tasks_itemtext t WHERE t.project_id = %s{bounds} AND t.vector @@ {QUERY_SQL}"
    return sql, [project_id, *(v for v in (after, before) if v is not None), q]
