"""The labeling loop's statements are prepared once per PostgreSQL connection (`common.prepared`, issue 20)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from common import prepared

SQL = "SELECT %(a)s + 1, %(b)s, %(a)s * 2"


def _run(sql: str = SQL, **params):
    with connection.cursor() as cur:
        prepared.execute(cur, sql, params)
        return cur.fetchone()


def _prepared_here() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'hitl_%%'")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.django_db
def test_a_statement_is_prepared_once_and_answers_as_the_plain_one():
    assert _run(a=1, b="x") == (2, "x", 2)
    assert _run(a=20, b="y") == (21, "y", 40)
    statements = [s for s in _prepared_here() if "$1 + 1" in s]
    assert len(statements) == 1 and "$2" in statements[0] and "%" not in statements[0]


@pytest.mark.django_db
def test_declared_types_serve_values_postgresql_cannot_place():
    sql = "SELECT x FROM (SELECT %(when)s AS x) t"
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with connection.cursor() as cur:
        prepared.execute(cur, sql, {"when": at}, {"when": "timestamptz"})
        assert cur.fetchone()[0] == at


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_its_own():
    assert _run(a=1, b="x") == (2, "x", 2)
    connection.close()
    assert _run(a=2, b="z") == (3, "z", 4)
    assert len([s for s in _prepared_here() if "$1 + 1" in s]) == 1
