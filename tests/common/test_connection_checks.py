"""The database connection a request reuses: checked with a round trip only when it sat idle (issue 20).
That a cut connection is replaced after a real restart is tests/faults/test_postgres_restart.py."""
from __future__ import annotations

import pytest
from django.db import connection, connections

from common.postgresql import base

pytestmark = pytest.mark.django_db


@pytest.fixture
def checks(monkeypatch):
    """The health checks the connection runs, counted (each answers "usable")."""
    ran: list[int] = []
    monkeypatch.setattr(connection, "is_usable", lambda: ran.append(1) or True)
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    connection.health_check_done = False  # as at the start of the next request
    return ran


def test_postgresql_runs_on_the_backend_with_the_idle_check():
    assert isinstance(connections["default"], base.DatabaseWrapper) and connection.health_check_enabled


def test_a_connection_used_a_moment_ago_is_reused_without_a_check(checks):
    connection.close_if_health_check_failed()
    assert checks == [] and connection.health_check_done


def test_a_connection_idle_longer_is_checked_first(checks):
    connection._used_at -= base.TRUSTED_IDLE_SECONDS
    connection.close_if_health_check_failed()
    assert checks == [1]
