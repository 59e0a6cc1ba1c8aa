"""Batches of rows handed to PostgreSQL as array literals, one text per column.

`unnest(%s::bigint[], %s::text[], ...)` with lists as parameters makes psycopg2 adapt every value
(an adapter object and a quoting call each: microseconds a value, seconds per million rows). Here a
column becomes one PostgreSQL array literal built by joins in C, psycopg2 quotes one string, and the
server parses the array in C. No temporary table either (no TRUNCATE or ANALYZE per batch), and the
planner knows the length of a constant array (it probes the primary key for each row).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def _quoted(v: str | None) -> str:
    if v is None:
        return "NULL"
    if "\\" in v or '"' in v:
        v = v.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{v}"'


def texts(values: Iterable[str | None]) -> str:
    """A text[] literal (None: NULL); JSON goes in as text and is cast to jsonb in the statement."""
    return "{" + ",".join(map(_quoted, values)) + "}"


def labels(values: Iterable[str | None]) -> str:
    """A text[] literal of a column with few distinct values (statuses, sources): each quoted once."""
    values = list(values)
    quoted = {v: _quoted(None if v is None else str(v)) for v in set(values)}
    return "{" + ",".join(map(quoted.__getitem__, values)) + "}"


def ints(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, map(int, values))) + "}"


def floats(values: Iterable[float]) -> str:
    return "{" + ",".join(map(repr, map(float, values))) + "}"


def timestamps(values: Iterable[datetime | None]) -> str:
    return texts(None if v is None else v.isoformat() for v in values)
