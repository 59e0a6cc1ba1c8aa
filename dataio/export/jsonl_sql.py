"""JSON and JSON Lines export records written by PostgreSQL itself, many lines a query.

The Python path (`reading` + `records`) spends microseconds of Python on every item and every
annotation, which at a million items is most of an export's time. Here PostgreSQL writes each
record's line as text (the keys, their order and the values of `records.record`) and joins a chunk's
lines into a few dozen strings, which Python joins into one: it passes a few megabytes at a time on,
one query per `CHUNK` items, and its memory stays that of a few chunks whatever the project's size.

A line is byte for byte what `records.write_jsonl` writes, with one exception: a number inside a
prediction or a rubric answer that Python would spell differently (orjson's `1e-7` for jsonb's
`0.0000001`) keeps jsonb's spelling; it is the same number. Times are written as Python's
`isoformat` writes them in UTC, `lead_time` as orjson writes a float.

PostgreSQL only (`available`); `records` stays the path for SQLite and for the other formats.

Building the text is PostgreSQL's CPU work, ~10 µs an item. An export that reads its own snapshot
(`shared_snapshot`) and is longer than `PARALLEL_FROM` chunks splits it over two connections sharing
that snapshot (`pg_export_snapshot`): chunks alternate between them, each computed in a thread of
its own while the chunks before it are being sent, and come out in id order. The second connection
is closed however the export ends, a client that stops reading included.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import orjson
import psycopg2.extensions
from django.db import connection, connections

from dataio.export.filters import Filters
from dataio.export.reading import selected_items
from tasks.models import Project

# Items a query: about 5 MB of text for short records. Small enough for the two connections to
# share out a 100k export evenly (and to send the first bytes soon), large enough that each
# query's planning (~5 ms) stays small next to its work (~100 ms).
CHUNK = 10_000
PARALLEL_FROM = 2  # chunks: a longer export (in its own snapshot) is written on two connections
_NO_END = 2 ** 63 - 1  # the largest id: a chunk that ends where its LIMIT does


def available() -> bool:
    return connection.vendor == "postgresql"


# -- SQL expressions writing one JSON value as text, as the Python path writes it ---------------

def _string(expr: str) -> str:
    """A text column as a JSON string, or null. to_json escapes what orjson escapes."""
    return f"COALESCE(to_json({expr})::text, 'null')"


def _json(expr: str) -> str:
    """A jsonb column in jsonb's own spelling (what `records.raw` copies), or null."""
    return f"COALESCE(({expr})::text, 'null')"


def _compact(expr: str) -> str:
    """A jsonb value in orjson's spelling, which has no space after `,` and `:`, or null.

    Strings are matched whole (the first alternative), so a comma or colon inside one is kept."""
    return (f"COALESCE(regexp_replace(({expr})::text, "
            r"""'("(?:[^"\\]|\\.)*")|([,:]) ', '\1\2', 'g'), 'null')""")


def _time(expr: str) -> str:
    """A timestamptz as `datetime.isoformat()` writes it in UTC: microseconds only when not zero."""
    return (f"""CASE WHEN {expr} IS NULL THEN 'null' ELSE '"' || replace(to_char({expr} AT TIME ZONE 'UTC', """
            f"""'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || '+00:00"' END""")


def _float(expr: str) -> str:
    """A float8 as orjson writes it: `3.0`, `0.00001`, `1e-7`, `1e+16` (PostgreSQL: `3`, `1e-05`,
    `1e-07`, `1e+16`). Both write the shortest digits that read back as the same number; they
    differ in where they switch to an exponent and how they write it. NaN and infinities: null."""
    decimal = f"(({expr})::text::numeric)::text"  # the shortest digits, written out in full
    return (f"CASE WHEN {expr} IS NULL OR {expr} IN ('NaN', 'Infinity', '-Infinity') THEN 'null' "
            f"WHEN {expr} = 0 THEN CASE WHEN ({expr})::text = '-0' THEN '-0.0' ELSE '0.0' END "
            f"WHEN abs({expr}) < 1e-5 OR abs({expr}) >= 1e16 "
            f"THEN regexp_replace(({expr})::text, 'e([+-])0+', 'e\\1') "
            f"WHEN {expr} = trunc({expr}) THEN {decimal} || '.0' "
            f"ELSE {decimal} END")


def _name(alias: str) -> str:
    """The JSON string of the user's name `_user` joined as `alias`, or null."""
    return f"COALESCE({alias}.name, 'null')"


def _user(alias: str, user_id: str) -> str:
    """A join of the user `user_id` with the JSON text of its name, `alias.name`. A subquery that
    PostgreSQL keeps as one (OFFSET 0) and memoizes per user: its name is escaped once per user,
    not once per row (to_json costs ~0.3 µs a call)."""
    return (f"LEFT JOIN LATERAL (SELECT to_json(username)::text AS name FROM accounts_user "
            f"WHERE id = {user_id} OFFSET 0) AS {alias} ON true")


def _bool(expr: str) -> str:
    return f"CASE WHEN {expr} THEN 'true' ELSE 'false' END"


def _object(*pairs: tuple[str, str], more: str = "''") -> str:
    """A JSON object of (key, SQL expression of the value's JSON text) pairs, in this order; `more`:
    an expression of further `,"key":value` text. Each key is one literal with the punctuation before
    it (`,"key":`): every `||` is an operation per row, and PostgreSQL folds only leading literals."""
    body = " || ".join(f"""'{"," if n else "{"}"{key}":' || {value}""" for n, (key, value) in enumerate(pairs))
    return f"{body} || {more} || '}}'"


# The parts of a record, as `records.record` writes them. Aliases: i the item, a an annotation,
# r a review decision, u a's or r's user, fu the user of the final decision (`_user`), an and re the
# item's annotations and review decisions (their objects, comma-separated).
_ANNOTATION = _object(("user", _name("u")), ("value", _json("a.value")), ("skipped", _bool("a.skipped")),
                      ("lead_time", _float("a.lead_time")), ("time", _time("a.created_at")))
_REVIEW = _object(("reviewer", _name("u")), ("value", _json("r.value")), ("note", _string("r.note")),
                  ("reason", _string("r.reason")), ("time", _time("r.created_at")))
_FINAL = "CASE WHEN i.final_source <> '' THEN {} ELSE 'null' END".format(_object(
    ("value", _json("i.final_value")), ("source", _string("i.final_source")), ("at", _time("i.final_at")),
    ("by", _name("fu"))))
# `records.prediction`: the stored snapshot's four keys (null where missing) when it is an object.
_PREDICTION = "CASE WHEN jsonb_typeof(i.prediction) = 'object' THEN {} ELSE 'null' END".format(_object(
    *((key, _compact(f"i.prediction -> '{key}'")) for key in ("model_version", "value", "confidence", "scores"))))


def _answers(questions: Sequence[str]) -> tuple[str, list]:
    """`records.final_answers`: `,"answers":{...}` with each question's answer in the final value's
    `answers` object (null where there is none); nothing without questions."""
    if not questions:
        return "''", []
    answer = _compact("i.final_value -> 'answers' -> q.id")
    return (f"""',"answers":{{' || (SELECT string_agg(q.key || ':' || {answer}, ',' ORDER BY q.n) """
            "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(id, key, n)) || '}'"), [
        list(questions), [orjson.dumps(q).decode() for q in questions]]


def _record(questions: Sequence[str]) -> tuple[str, list]:
    """The SQL expression of an item's record, and its parameters."""
    answers, params = _answers(questions)
    return _object(
        ("id", "i.id"), ("external_id", _string("i.external_id")), ("data", "i.data::text"),
        ("status", _string("i.status")), ("final", _FINAL), ("gold", _json("i.gold")),
        ("annotations", "'[' || COALESCE(an.json, '') || ']'"), ("reviews", "'[' || COALESCE(re.json, '') || ']'"),
        ("prediction", _PREDICTION), ("review_reason", _string("i.review_reason")), ("needed", "i.needed"),
        ("created_at", _time("i.created_at")), more=answers), params


# The JSON texts (`json`, alias `{a}` of `table`, `{user}` the join of its user) of the chunk's items'
# rows of a table, joined by commas per item in id order. Parameter: the project.
_PER_ITEM = """
    SELECT item_id, string_agg(json, ',') AS json FROM (
        SELECT {a}.item_id, {json} AS json
        FROM {table} {a} {user}
        WHERE {a}.project_id = %s AND {a}.item_id BETWEEN (SELECT min(id) FROM i) AND (SELECT max(id) FROM i)
        ORDER BY {a}.item_id, {a}.id) AS {a}
    GROUP BY item_id"""

_ANNOTATIONS = _PER_ITEM.format(a="a", table="annotations_annotation", user=_user("u", "a.user_id"), json=_ANNOTATION)
_REVIEWS = _PER_ITEM.format(a="r", table="annotations_reviewdecision", user=_user("u", "r.reviewer_id"), json=_REVIEW)

# "tasks_item.id > {after}": past an id, or from the selection's first id on. Starting from 0, the
# primary key's range scan that PostgreSQL picks would first pass (and filter out) every item of
# the projects created before this one. Parameters: the id twice, then the selection's.
_AFTER = "CASE WHEN %s > 0 THEN %s ELSE (SELECT min(tasks_item.id) - 1 FROM tasks_item WHERE {where}) END"

# One chunk: the next CHUNK selected items after one id (and up to another where the chunk is known
# to end, `_LAST_ID`), their annotations and review decisions (a range scan of their item index
# each, grouped by item), the users joined. Set-based: a subquery per item would cost PostgreSQL
# several microseconds per item. An item's annotations are aggregated in the order of the sorted
# subquery (PostgreSQL's aggregates take their rows as they come); `string_agg(... ORDER BY a.id)`
# would sort each item's few rows on their own, which costs more than the whole sort. The lines
# come in rows of up to `_LINES` consecutive ids (no empty row): one string of the whole chunk costs
# PostgreSQL more (growing a buffer of megabytes and copying it on) than a few dozen rows.
_LINES = 128
_QUERY = """
WITH i AS MATERIALIZED (
    SELECT tasks_item.id, tasks_item.external_id, tasks_item.data, tasks_item.status, tasks_item.final_value,
           tasks_item.final_source, tasks_item.final_at, tasks_item.final_by_id, tasks_item.gold,
           tasks_item.prediction, tasks_item.review_reason, tasks_item.needed, tasks_item.created_at
    FROM tasks_item WHERE {where} AND tasks_item.id <= %s AND tasks_item.id > {after}
    ORDER BY tasks_item.id LIMIT %s
), an AS ({annotations}
), re AS ({reviews}
)
SELECT count(*), max(i.id), string_agg({record}, %s ORDER BY i.id)
FROM i LEFT JOIN an ON an.item_id = i.id LEFT JOIN re ON re.item_id = i.id
    {final_by}
GROUP BY i.id / {lines} ORDER BY i.id / {lines}
"""

# The id of the last of the next `size` selected items after an id (NULL after the last one): where
# a chunk ends, known before its text is written, so that the next chunk can start meanwhile.
_LAST_ID = """
SELECT max(id) FROM (SELECT tasks_item.id FROM tasks_item WHERE {where} AND tasks_item.id > {after}
                     ORDER BY tasks_item.id LIMIT %s) AS i
"""

# Whether more than that many items are selected, reading no further.
_MORE_THAN = "SELECT count(*) > %s FROM (SELECT FROM tasks_item WHERE {where} LIMIT %s + 1) AS i"


@dataclass(frozen=True)
class _Query:
    """One export's chunk queries, compiled once: the selection's condition and the record's SQL."""

    where: str
    where_params: tuple
    chunk_sql: str
    record_params: tuple
    project_id: int
    separator: str

    @classmethod
    def build(cls, project: Project, filters: Filters, questions: Sequence[str], separator: str) -> _Query:
        items = selected_items(project, filters)
        where, where_params = items.query.get_compiler(using=items.db).compile(items.query.where)
        record, record_params = _record(questions)
        sql = _QUERY.format(where=where, after=_AFTER.format(where=where), annotations=_ANNOTATIONS, reviews=_REVIEWS,
                            record=record, final_by=_user("fu", "i.final_by_id"), lines=_LINES)
        return cls(where, tuple(where_params), sql, tuple(record_params), project.pk, separator)

    @staticmethod
    def configure(cursor) -> None:
        """Settings of the cursor's transaction. JIT compiling these expressions takes PostgreSQL
        longer than running them; a chunk's sorts (by item id, a few MB) should stay in memory. Text
        comes as bytes: a chunk goes out as it came in, not decoded and encoded again."""
        cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        psycopg2.extensions.register_type(psycopg2.extensions.BYTES, cursor.cursor)

    def text(self, cursor, after: int, through: int | None, size: int) -> tuple[int, int, bytes]:
        """(number of items, last id, their lines) of the next `size` selected items after id `after`,
        up to id `through` (no bound: None); (0, after, b"") when there are none. Keyset pagination,
        as in `reading`: an index range scan however deep into the project."""
        pid = self.project_id
        cursor.execute(self.chunk_sql, [*self.where_params, _NO_END if through is None else through,
                                        *self._after(after), size, pid, pid, *self.record_params, self.separator])
        rows = cursor.fetchall()
        if not rows:
            return 0, after, b""
        return sum(n for n, _, _ in rows), rows[-1][1], self.separator.encode().join([text for _, _, text in rows])

    def last_id(self, cursor, after: int, size: int) -> int | None:
        cursor.execute(_LAST_ID.format(where=self.where, after=_AFTER.format(where=self.where)),
                       [*self.where_params, *self._after(after), size])
        return cursor.fetchone()[0]

    def _after(self, after: int) -> list:
        """The parameters of `_AFTER`."""
        return [after, after, *self.where_params]

    def more_than(self, cursor, n: int) -> bool:
        cursor.execute(_MORE_THAN.format(where=self.where), [n, *self.where_params, n])
        return cursor.fetchone()[0]


def iter_text(project: Project, filters: Filters, questions: Sequence[str] = (), *, separator: str = "\n",
              progress: Callable[[int], None] | None = None, size: int | None = None,
              shared_snapshot: bool = False) -> Iterator[bytes]:
    """The selected items' records in id order, UTF-8, in chunks of lines joined by `separator` (a
    chunk neither starts nor ends with it). `progress(n)` is called after each chunk of n items has
    been used. Run it inside a transaction (the export's snapshot): its settings are local to it.
    `shared_snapshot`: that transaction is the export's own, read-only and committed data only, so
    other connections may read its snapshot too (not a caller's transaction with its own writes)."""
    query = _Query.build(project, filters, questions, separator)
    size = size or CHUNK
    with connection.cursor() as cursor:
        query.configure(cursor)
        if shared_snapshot and query.more_than(cursor, PARALLEL_FROM * size):
            chunks = _two_connections(query, cursor, size)
        else:
            chunks = _one_connection(query, cursor, size)
        with closing(chunks):
            for n, text in chunks:
                yield text
                if progress is not None:
                    progress(n)


def _one_connection(query: _Query, cursor, size: int) -> Generator[tuple[int, bytes], None, None]:
    """(items, text) of each chunk, one query after the other (the last one finds none)."""
    after = 0
    while True:
        n, last, text = query.text(cursor, after, None, size)
        if not n:
            return
        yield n, text
        after = last


def _two_connections(query: _Query, cursor, size: int) -> Generator[tuple[int, bytes], None, None]:
    """`_one_connection`'s chunks, written alternately by this connection and a second one that
    reads the same snapshot; the second connection is closed however this ends."""
    cursor.execute("SELECT pg_export_snapshot()")
    second = _connection_in_snapshot(cursor.fetchone()[0].decode())  # text comes as bytes (`configure`)
    try:
        with second.cursor() as other:
            query.configure(other)
            yield from _Lanes(query, (cursor, other), size).chunks()
    finally:
        second.close()


def _connection_in_snapshot(snapshot: str):
    """A new connection to the same database in a read-only transaction reading `snapshot`."""
    second = connections.create_connection(connection.alias)
    try:
        second.set_autocommit(False)
        with second.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT %s",
                           [snapshot])
    except BaseException:
        second.close()
        raise
    return second


class _Lanes:
    """Chunk k written on cursor k % 2, each cursor in a thread of its own, so that PostgreSQL
    writes the next two chunks while this thread hands the current one on (both cores busy).

    A chunk first looks up its last id (a few ms), which the next chunk waits for as its start, then
    writes its text. Two chunks are written ahead of the one being used: memory stays that of a few
    chunks. When the caller stops early, chunks not started are dropped and the running ones
    finish (a query on the second connection is cancelled) before the cursors are given back."""

    AHEAD = 2

    def __init__(self, query: _Query, cursors: tuple, size: int):
        self.query, self.cursors, self.size = query, cursors, size
        self.ends: dict[int, Future] = {-1: _resolved(0)}  # chunk -> its last id (None: no such chunk)
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.threads = [ThreadPoolExecutor(1, thread_name_prefix="export-lane") for _ in cursors]

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        pending = [self._submit(k) for k in range(self.AHEAD)]
        finished = False
        try:
            for k in itertools.count():
                chunk = pending.pop(0).result()
                if chunk is None:
                    finished = True
                    return
                pending.append(self._submit(k + self.AHEAD))
                self.ends.pop(k - 1, None)
                yield chunk
        finally:
            self._stop(pending, early=not finished)

    def _submit(self, k: int) -> Future:
        self.ends[k] = Future()
        return self.threads[k % 2].submit(self._write, k)

    def _write(self, k: int) -> tuple[int, bytes] | None:
        """Chunk k's (items, text), or None past the last chunk (or once stopped)."""
        cursor = self.cursors[k % 2]
        try:
            after = self.ends[k - 1].result()
            if after is None or self.stopped.is_set():
                return None
            through = self.query.last_id(cursor, after, self.size)
            self._resolve(self.ends[k], through)
            if through is None or self.stopped.is_set():
                return None
            n, _, text = self.query.text(cursor, after, through, self.size)
            return n, text
        finally:
            self._resolve(self.ends[k], None)  # no start for the next chunk if this one had no end

    def _resolve(self, end: Future, value: int | None) -> None:
        with self.lock:
            if not end.done():
                end.set_result(value)

    def _stop(self, pending: list[Future], *, early: bool) -> None:
        """Drop the chunks not started, let the running ones end (cancelling the second connection's
        query when the caller stopped early), then release the threads."""
        self.stopped.set()
        for future in pending:
            future.cancel()
        for end in list(self.ends.values()):  # a chunk waiting for its start gets none
            self._resolve(end, None)
        second = self.cursors[1].db.connection
        if early and second is not None:
            second.cancel()  # a no-op when it runs nothing
        for thread in self.threads:
            thread.shutdown(wait=True)


def _resolved(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
