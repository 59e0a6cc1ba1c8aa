"""`tasks.bulk`: a batch's columns as PostgreSQL array literals come back from the server as they went in."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from django.db import connection

from tasks import bulk

pytestmark = pytest.mark.django_db

AWKWARD = ["", "NULL", "null", None, 'say "hi"', "back\\slash", "a,b", "{braces}", "tab\there", "line\nend",
           "'single'", "  spaces  ", "ünïcödé ✓ 😀", '{"json": "with \\"escapes\\" and \\\\ \\n"}']


def roundtrip(literal: str, cast: str) -> list:
    if connection.vendor != "postgresql":
        pytest.skip("array literals are for PostgreSQL")
    with connection.cursor() as cur:
        cur.execute(f"SELECT v FROM unnest(%s::{cast}) WITH ORDINALITY AS t(v, n) ORDER BY n", [literal])
        return [row[0] for row in cur.fetchall()]


def test_texts_with_quotes_backslashes_commas_braces_and_nulls_survive():
    assert roundtrip(bulk.texts(AWKWARD), "text[]") == AWKWARD
    assert roundtrip(bulk.labels(["queued", "", "queued", None, "auto_accepted"]), "text[]") == [
        "queued", "", "queued", None, "auto_accepted"]


def test_json_text_becomes_the_same_jsonb():
    values = [{"label": 'a "quoted" label'}, {"scores": {"x": 0.1234567, "y\\z": 1e-9}}, ["é", None, True]]
    with connection.cursor() as cur:
        cur.execute("SELECT v::jsonb::text FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
                    [bulk.texts(orjson.dumps(v).decode() for v in values)])
        assert [orjson.loads(row[0]) for row in cur.fetchall()] == values


def test_numbers_and_timestamps_keep_their_values():
    floats = [0.1, 1 / 3, 1e-300, -2.5, 0.0, 123456789.123456789]
    assert roundtrip(bulk.floats(floats), "float8[]") == floats
    assert roundtrip(bulk.ints([0, -1, 2**40]), "bigint[]") == [0, -1, 2**40]
    when = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert roundtrip(bulk.timestamps([when, None]), "timestamptz[]") == [when, None]
    assert math.isnan(roundtrip(bulk.floats([float("nan")]), "float8[]")[0])
