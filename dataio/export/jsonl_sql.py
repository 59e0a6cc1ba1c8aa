"""JSON and JSON Lines export records written by PostgreSQL itself, many lines a query.

The Python path (`reading` + `records`) spends microseconds of Python on every item and every
annotation, which at a million items is most of an export's time. Here PostgreSQL writes each
record's line as text (the keys, their order and the values of `records.record`) and joins a chunk
of lines into one string: Python passes a few megabytes at a time on, one query per `CHUNK` items,
and its memory stays that of one chunk whatever the project's size.

A line is byte for byte what `records.write_jsonl` writes, with one exception: a number inside a
prediction or a rubric answer that Python would spell differently (orjson's `1e-7` for jsonb's
`0.0000001`) keeps jsonb's spelling; it is the same number. Times are written as Python's
`isoformat` writes them in UTC, `lead_time` as orjson writes a float.

PostgreSQL only (`available`); `records` stays the path for SQLite and for the other formats.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import orjson
from django.db import connection

from dataio.export.filters import Filters
from dataio.export.reading import selected_items
from tasks.models import Project

CHUNK = 20_000  # items a query: about 5 MB of text for short records


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


def _bool(expr: str) -> str:
    return f"CASE WHEN {expr} THEN 'true' ELSE 'false' END"


def _object(*pairs: tuple[str, str], more: str = "''") -> str:
    """A JSON object of (key, SQL expression of the value's JSON text) pairs, in this order; `more`:
    an expression of further `,"key":value` text."""
    body = " || ',' || ".join(f"""'"{key}":' || {value}""" for key, value in pairs)
    return f"'{{' || {body} || {more} || '}}'"


# The parts of a record, as `records.record` writes them. Aliases: i the item, a an annotation,
# r a review decision, u a's or r's user, fu the user of the final decision, an and re the item's
# annotations and review decisions (their objects, comma-separated).
_ANNOTATION = _object(("user", _string("u.username")), ("value", _json("a.value")), ("skipped", _bool("a.skipped")),
                      ("lead_time", _float("a.lead_time")), ("time", _time("a.created_at")))
_REVIEW = _object(("reviewer", _string("u.username")), ("value", _json("r.value")), ("note", _string("r.note")),
                  ("reason", _string("r.reason")), ("time", _time("r.created_at")))
_FINAL = "CASE WHEN i.final_source <> '' THEN {} ELSE 'null' END".format(_object(
    ("value", _json("i.final_value")), ("source", _string("i.final_source")), ("at", _time("i.final_at")),
    ("by", _string("fu.username"))))
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


# One chunk: the next CHUNK selected items after `last`, their annotations and review decisions
# (a range scan of their item index each, grouped by item), the users joined. Set-based: a
# subquery per item would cost PostgreSQL several microseconds per item. An item's annotations
# are aggregated in the order of the sorted subquery (PostgreSQL's aggregates take their rows as
# they come); `string_agg(... ORDER BY a.id)` would sort each item's few rows on their own, which
# costs more than the whole sort.
_QUERY = """
WITH i AS MATERIALIZED (
    SELECT tasks_item.id, tasks_item.external_id, tasks_item.data, tasks_item.status, tasks_item.final_value,
           tasks_item.final_source, tasks_item.final_at, tasks_item.final_by_id, tasks_item.gold,
           tasks_item.prediction, tasks_item.review_reason, tasks_item.needed, tasks_item.created_at
    FROM tasks_item WHERE {where} AND tasks_item.id > %s ORDER BY tasks_item.id LIMIT %s
), an AS (
    SELECT item_id, string_agg(json, ',') AS json FROM (
        SELECT a.item_id, {annotation} AS json
        FROM annotations_annotation a LEFT JOIN accounts_user u ON u.id = a.user_id
        WHERE a.project_id = %s AND a.item_id > %s AND a.item_id <= (SELECT max(id) FROM i)
        ORDER BY a.item_id, a.id) AS a
    GROUP BY item_id
), re AS (
    SELECT item_id, string_agg(json, ',') AS json FROM (
        SELECT r.item_id, {review} AS json
        FROM annotations_reviewdecision r LEFT JOIN accounts_user u ON u.id = r.reviewer_id
        WHERE r.project_id = %s AND r.item_id > %s AND r.item_id <= (SELECT max(id) FROM i)
        ORDER BY r.item_id, r.id) AS r
    GROUP BY item_id
)
SELECT count(*), max(i.id), string_agg({record}, %s ORDER BY i.id)
FROM i LEFT JOIN an ON an.item_id = i.id LEFT JOIN re ON re.item_id = i.id
    LEFT JOIN accounts_user fu ON fu.id = i.final_by_id
"""


def iter_text(project: Project, filters: Filters, questions: Sequence[str] = (), *, separator: str = "\n",
              progress: Callable[[int], None] | None = None, size: int | None = None) -> Iterator[bytes]:
    """The selected items' records in id order, UTF-8, in chunks of lines joined by `separator` (a
    chunk neither starts nor ends with it). `progress(n)` is called after each chunk of n items has
    been used. Run it inside a transaction (the export's snapshot): its settings are local to it."""
    items = selected_items(project, filters)
    where, where_params = items.query.get_compiler(using=items.db).compile(items.query.where)
    record, record_params = _record(questions)
    sql = _QUERY.format(where=where, annotation=_ANNOTATION, review=_REVIEW, record=record)
    last_id = 0
    with connection.cursor() as cursor:
        # JIT compiling these expressions takes PostgreSQL longer than running them; a chunk's
        # sorts (by item id, a few MB) should stay in memory.
        cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        while True:
            # Keyset pagination, as in `reading`: an index range scan however deep into the project.
            cursor.execute(sql, [*where_params, last_id, size or CHUNK, project.pk, last_id, project.pk, last_id,
                                 *record_params, separator])
            n, last_id, text = cursor.fetchone()
            if not n:
                return
            yield text.encode()
            if progress is not None:
                progress(n)
