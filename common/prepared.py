"""The labeling loop's statements, prepared once per PostgreSQL connection.

PostgreSQL planned the loop's queries (the candidate, the lease, the item's lock and situation) in 0.3-0.5 ms
each, several times longer than it took to run them. A statement sent here is `PREPARE`d the first time a
connection sees it and `EXECUTE`d after that, so after a few runs PostgreSQL keeps a generic plan (and
replans when it would be worse: `plan_cache_mode` auto). The SQL is written with named parameters
(`%(name)s`), as for `cursor.execute`; elsewhere (SQLite, another backend) it simply runs.
Connections are kept between requests (CONN_MAX_AGE); each knows what it prepared
(`common.postgresql.base.DatabaseWrapper.prepared_statements`, emptied when it reconnects). A prepared
statement outlives the transaction that prepared it, also one rolled back.

`executable` does the same for the writes `common.rows` sends several to a round trip (a submission's
annotation, assignment, audit event and item): those are written with positional parameters (`%s`).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache

_PARAM = re.compile(r"%\((\w+)\)s")


def execute(cursor, sql: str, params: Mapping, types: Mapping[str, str] | None = None, *,
            before: str = "") -> None:
    """`cursor.execute(sql, params)`, prepared where the connection supports it. `types` names the SQL type of
    parameters PostgreSQL cannot infer from their place (e.g. a value in an `INSERT … SELECT` list). `before` is
    a PostgreSQL command without parameters (e.g. a `SET LOCAL`) sent ahead of the statement in the same round
    trip; other databases skip it."""
    prepared = getattr(cursor.db, "prepared_statements", None)
    if prepared is None:
        cursor.execute(sql, params)
        return
    name, names, call = _named(sql)
    if name not in prepared:
        body = _PARAM.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
        declared = ", ".join((types or {}).get(n, "unknown") for n in names)
        cursor.execute(f"PREPARE {name} ({declared}) AS {body}" if names else f"PREPARE {name} AS {body}")
        prepared.add(name)
    statement = f"{before}; {call}" if before else call
    if names:
        cursor.execute(statement, [params[n] for n in names])
    else:
        cursor.execute(statement)


@lru_cache(maxsize=512)
def _named(sql: str) -> tuple[str, tuple[str, ...], str]:
    """A statement with `%(name)s` parameters: its name, its parameters' names in order, and its `EXECUTE`."""
    names = tuple(dict.fromkeys(_PARAM.findall(sql)))
    name, call = _name_and_call(sql, len(names))
    return name, names, call


@lru_cache(maxsize=256)
def _positional(sql: str) -> tuple[str, str, str]:
    """A statement with `%s` parameters: its name, its body with `$n` parameters, and its `EXECUTE`."""
    count = sql.count("%s")
    numbers = iter(range(1, count + 1))
    body = re.sub(r"%s", lambda _: f"${next(numbers)}", sql)
    name, call = _name_and_call(sql, count)
    return name, body, call


def _name_and_call(sql: str, count: int) -> tuple[str, str]:
    """The prepared statement's name (from its text) and its `EXECUTE` with `count` `%s` parameters."""
    name = "hitl_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    return name, f"EXECUTE {name} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"


def executable(db, sql: str) -> str:
    """The statement `sql` (with `%s` parameters, none of them `%%`) as the `EXECUTE` of its prepared form,
    which takes the same parameters; it is prepared on the connection `db` the first time that connection
    sees it (a round trip of its own, once). Elsewhere: `sql` itself."""
    prepared = getattr(db, "prepared_statements", None)
    if prepared is None:
        return sql
    name, body, call = _positional(sql)
    if name not in prepared:
        with db.cursor() as cursor:
            cursor.execute(f"PREPARE {name} AS {body}")
        prepared.add(name)
    return call
