"""Which index a query can use, whatever the planner's cost estimates: the plan with every other index of the
table dropped (the primary key kept), sequential scans discouraged and no order asked for, inside a savepoint
that is rolled back afterwards (the indexes come back). A plan that names the index can use it; one left with
a Seq Scan could not (the filter does not imply the index's condition). PostgreSQL only."""
from __future__ import annotations

from django.db import connection, transaction


def plan_with_only(index: str, qs) -> str:
    """EXPLAIN of `qs` (unordered) with `index` its table's only index besides the primary key."""
    table = qs.model._meta.db_table
    saved = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixtures' deferred checks, before ALTER TABLE
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u' "
                       "AND conname <> %s", [table, index])
        for (name,) in cursor.fetchall():  # a unique constraint's index goes with it
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname <> %s "
                       "AND indexname <> %s", [table, index, f"{table}_pkey"])
        for (other,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX {other}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.order_by().query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    transaction.savepoint_rollback(saved)
    return plan
