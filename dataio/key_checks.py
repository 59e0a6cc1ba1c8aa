"""The foreign keys of imported items, checked once per import instead of once per row (PostgreSQL).

PostgreSQL checks each foreign key of every row COPY writes with a query of its own when the
transaction commits (`SELECT 1 FROM tasks_project WHERE id = $1 FOR KEY SHARE`, and one for the
reviewer of a final value): 5 µs a row, a quarter of a million-item import's time. Every item of an
import references the same project, and a final value's reviewer is a user the import looked up in
the same transaction. Locking those rows FOR KEY SHARE once, which is what each per-row check does,
gives the same guarantee: they exist, and nobody can delete them or change their keys until the
import has committed. COPY then runs with `session_replication_role = replica`, so that PostgreSQL
fires none of tasks_item's triggers for it: its two foreign-key checks, and the search vector's
trigger, which an import defers anyway (`tasks.text_search`). Unique and check constraints still hold.

PostgreSQL lets a superuser set that, or a role granted it (PostgreSQL 15:
`GRANT SET ON PARAMETER session_replication_role TO hitl;`); any other role imports as before, with
the checks row by row.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

_ALLOWED_SQL = "SELECT current_setting('is_superuser') = 'on'"
# has_parameter_privilege came with GRANT SET ON PARAMETER in PostgreSQL 15.
_ALLOWED_SQL_15 = _ALLOWED_SQL + " OR has_parameter_privilege('session_replication_role', 'SET')"


def may_skip_row_checks() -> bool:
    """Whether this connection's role may set `session_replication_role`."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute(_ALLOWED_SQL_15 if connection.pg_version >= 150000 else _ALLOWED_SQL)
        return bool(cur.fetchone()[0])


def lock_project(project_id: int) -> bool:
    """Hold the project's row as each per-row check would (until the transaction ends); whether it exists."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM tasks_project WHERE id = %s FOR KEY SHARE", [project_id])
        return cur.fetchone() is not None


def lock_users(usernames: Iterable[str]) -> list[tuple[str, int]]:
    """(username, id) of the users named, each held as a per-row check would hold it."""
    with connection.cursor() as cur:
        cur.execute("SELECT username, id FROM accounts_user WHERE username = ANY(%s) FOR KEY SHARE",
                    [list(usernames)])
        return cur.fetchall()


@contextmanager
def rows_unchecked(skip: bool) -> Iterator[None]:
    """With `skip`, the statements inside fire no triggers (so no per-row foreign-key checks); the
    caller holds the rows they reference (`lock_project`, `lock_users`). The setting is local to the
    transaction: an error inside leaves it to the rollback."""
    if not skip:
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
    yield
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = origin")
