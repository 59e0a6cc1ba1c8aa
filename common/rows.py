"""One row read or written by a plain statement, as the ORM would, minus the query compiling.

The labeling loop reads its token, project and item and inserts an annotation and updates its item on
every request; compiling those statements through the ORM cost the worker more than the database's
answer. The statements are built
once per model (and field list) and cached; the values go through each field's own preparation
(`pre_save`, `get_db_prep_save`: `auto_now` times, JSON encoding, ...), so the row is the one `save`
writes. No model signals are sent: use these only for models nothing listens to. On PostgreSQL each statement
is prepared once per connection (`common.prepared.executable`): the database then neither parses nor plans it
again (a submission's writes: 0.3 ms less of PostgreSQL's CPU).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Model

from common import prepared


def _db():
    """This thread's connection itself: each attribute read through Django's `connection` proxy looks the
    connection up again (1-1.5 µs; a submission made about 40 such reads)."""
    return connections[DEFAULT_DB_ALIAS]


@lru_cache(maxsize=None)
def _insert_sql(model: type[Model], returning: bool, keyed: bool = False) -> tuple[str, tuple]:
    q = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if keyed or not f.primary_key)
    sql = (f'INSERT INTO {q(model._meta.db_table)} ({", ".join(q(f.column) for f in fields)}) '
           f'VALUES ({", ".join(["%s"] * len(fields))})')
    if returning:
        sql += f" RETURNING {q(model._meta.pk.column)}"
    return sql, fields


@lru_cache(maxsize=None)
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    q, meta = connection.ops.quote_name, model._meta
    chosen = {meta.get_field(name) for name in names}
    # `auto_now` fields are written on every save, as `save(update_fields=...)` does when they are named.
    fields = tuple(f for f in meta.concrete_fields if f in chosen or getattr(f, "auto_now", False))
    sets = ", ".join(f"{q(f.column)} = %s" for f in fields)
    return f"UPDATE {q(meta.db_table)} SET {sets} WHERE {q(meta.pk.column)} = %s", fields


def insert_statement(obj: Model, *, returning: bool = False) -> tuple[str, list]:
    """`insert` as a statement and its parameters, for `execute_all` (the row's key is not read back). An
    instance whose key is set (taken from its sequence beforehand) is written with it and marked saved."""
    keyed = obj.pk is not None
    sql, fields = _insert_sql(type(obj), returning, keyed)
    db = _db()
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    if keyed:
        _mark_saved(obj)
    return sql, params


def _mark_saved(obj: Model) -> None:
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS


def insert(obj: Model) -> Model:
    """INSERT a new instance (its primary key from the database) and mark it saved."""
    db = _db()
    returning = db.features.can_return_columns_from_insert
    sql, params = insert_statement(obj, returning=returning)
    sql = prepared.executable(db, sql)
    with db.cursor() as cur:
        cur.execute(sql, params)
        obj.pk = cur.fetchone()[0] if returning else cur.lastrowid
    _mark_saved(obj)
    return obj


def update_statement(obj: Model, names: tuple[str, ...] | list[str]) -> tuple[str, list]:
    """`update` as a statement and its parameters, for `execute_all`."""
    sql, fields = _update_sql(type(obj), tuple(names))
    db = _db()
    return sql, [*(f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields), obj.pk]


def update(obj: Model, names: tuple[str, ...] | list[str]) -> None:
    """UPDATE the named fields (and the `auto_now` ones) of a saved instance by its primary key."""
    execute_all([update_statement(obj, names)])


def execute_all(statements: list[tuple[str, list]]) -> None:
    """Run the statements (SQL with `%s` parameters) in order: on PostgreSQL in one round trip (psycopg sends
    them as one query string), elsewhere one by one (SQLite's driver takes one statement per call). Inside
    `together`, they wait to go with what follows."""
    db = _db()
    # Prepared once per connection: PostgreSQL then neither parses nor plans them again.
    statements = [(prepared.executable(db, sql), params) for sql, params in statements]
    waiting = getattr(db, "waiting_writes", None)
    if waiting is not None:
        waiting.extend(statements)
        return
    with db.cursor() as cur:
        _send(cur, statements)


def _send(cur, statements: list[tuple[str, list]]) -> None:
    if cur.db.vendor == "postgresql" and len(statements) > 1:
        cur.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
    else:
        for sql, params in statements:
            cur.execute(sql, params)


@contextmanager
def together() -> Iterator[None]:
    """Within the block, `execute_all`'s writes wait and go with the connection's next statement, in its round
    trip (that statement sees them, as if they had run first), or at the end of the block. A submission's
    writes (its assignment, audit events, the item's count and settlement) and the read that follows them
    then cost one round trip instead of three. PostgreSQL only (one query string may hold several
    statements there); elsewhere the block changes nothing. Not reentrant: an inner block joins the outer."""
    db = _db()
    if db.vendor != "postgresql" or getattr(db, "waiting_writes", None) is not None:
        yield
        return
    waiting: list[tuple[str, list]] = []

    def send_first(execute, sql, params, many, context):
        if not waiting:
            return execute(sql, params, many, context)
        ahead, ahead_params = ";\n".join(s for s, _ in waiting), [p for _, ps in waiting for p in ps]
        waiting.clear()
        if many or not isinstance(params, (list, tuple)):  # cannot share the call: send the writes first
            execute(ahead, ahead_params, False, context)
            return execute(sql, params, many, context)
        return execute(f"{ahead};\n{sql}", [*ahead_params, *params], False, context)

    db.waiting_writes = waiting
    failed = False
    with db.execute_wrapper(send_first):
        try:
            yield
        except DatabaseError:
            failed = True  # the transaction is lost (as when Django marked it for rollback): nothing to send
            raise
        finally:
            db.waiting_writes = None
            if waiting and not failed and not db.needs_rollback:
                left = list(waiting)
                waiting.clear()
                with db.cursor() as cur:
                    _send(cur, left)


@lru_cache(maxsize=None)
def _exists_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    fields = tuple(model._meta.get_field(name) for name in names)
    where = " AND ".join(f"{connection.ops.quote_name(f.column)} = %(p{n})s" for n, f in enumerate(fields))
    return f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where})", fields


def exists(model: type[Model], **equal) -> bool:
    """Whether a row of `model` has these column values (`model.objects.filter(**equal).exists()`, for plain
    equality on concrete fields)."""
    sql, fields = _exists_sql(model, tuple(equal))
    db = _db()
    params = {f"p{n}": f.get_db_prep_value(value, db)
              for n, (f, value) in enumerate(zip(fields, equal.values(), strict=True))}
    with db.cursor() as cur:
        prepared.execute(cur, sql, params)
        return bool(cur.fetchone()[0])


def moment(value: datetime):
    """A time as a parameter of a plain statement, written as the ORM writes it (SQLite: UTC text)."""
    return _db().ops.adapt_datetimefield_value(value)


def _converters(model: type[Model], name: str) -> tuple[Any, list]:
    """A column's expression and its database converters (the backend's and the field's: JSON decoding,
    SQLite's dates, ...), which the ORM applies to a value it reads."""
    col = model._meta.get_field(name).get_col(model._meta.db_table)
    return col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)


def converted(model: type[Model], name: str, value):
    """A column of `model` read by a plain statement, as the ORM would give it."""
    col, convs = _converters(model, name)
    db = _db()
    for convert in convs:
        value = convert(value, col, db)
    return value


class Columns:
    """A model's columns in a plain SELECT under `alias`, and the row's values turned into an instance as the
    ORM would (`converted`, then `Model.from_db`)."""

    def __init__(self, model: type[Model], alias: str):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self.names = [f.attname for f in self.fields]
        self._converters: list | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def load(self, values) -> Any:
        if self._converters is None:  # at first use: the connection's backend is known by then
            self._converters = [(n, *_converters(self.model, f.name)) for n, f in enumerate(self.fields)]
            self._converters = [(n, col, convs) for n, col, convs in self._converters if convs]
        values, db = list(values), _db()
        for n, col, convs in self._converters:
            for convert in convs:
                values[n] = convert(values[n], col, db)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.names, values)
