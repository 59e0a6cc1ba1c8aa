"""Foreign keys of bulk writes checked once per transaction instead of once per row (PostgreSQL).

PostgreSQL checks each foreign key of every row written with a query of its own (`SELECT 1 FROM parent
WHERE id = $1 FOR KEY SHARE`, at commit for Django's deferred keys): about 5 µs a row, a quarter of a
million-item import's time and a sixth of pre-labeling's database work. A bulk write's rows mostly
reference a few parents (an import's items one project; a model version's predictions that version),
or rows the same transaction already holds (the items pre-labeling just updated). Holding the parents
FOR KEY SHARE once (`hold`), which is what each per-row check does, gives the same guarantee: they
exist, and nobody can delete them or change their keys until the transaction ends. The statement
then runs with `session_replication_role = replica` (`unchecked`), so that PostgreSQL fires none of
the table's triggers for it: neither the foreign keys' checks nor any other trigger, so the caller
makes sure no other trigger of that table has work to do for it. Unique and check constraints hold.

PostgreSQL lets a superuser set that, or a role granted it (PostgreSQL 15:
`GRANT SET ON PARAMETER session_replication_role TO hitl;`); for any other role `may_skip` says no
and the rows are checked one by one as before.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_ALLOWED_SQL = "SELECT current_setting('is_superuser') = 'on'"
# has_parameter_privilege came with GRANT SET ON PARAMETER in PostgreSQL 15.
_ALLOWED_SQL_15 = _ALLOWED_SQL + " OR has_parameter_privilege('session_replication_role', 'SET')"


def may_skip(conn=connection) -> bool:
    """Whether the connection's role may set `session_replication_role` (False off PostgreSQL)."""
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cur:
        cur.execute(_ALLOWED_SQL_15 if conn.pg_version >= 150000 else _ALLOWED_SQL)
        return bool(cur.fetchone()[0])


def hold(table: str, ids: list[int], conn=connection) -> set[int]:
    """Lock the rows of `table` with these ids as a per-row check would (until the transaction ends); the ids
    found."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) FOR KEY SHARE", [ids])
        return {pk for (pk,) in cur.fetchall()}


@contextmanager
def unchecked(skip: bool) -> Iterator[None]:
    """With `skip`, the statements inside fire no triggers (so no per-row foreign-key checks); the caller
    holds the rows they reference (`hold`). Local to the transaction: an error inside leaves it to the
    rollback."""
    if not skip:
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
    yield
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = origin")
