"""Faults on real servers: workers killed mid-job, Redis stopped, PostgreSQL restarted. Shared helpers."""
from __future__ import annotations

import os

import pytest
from django.db import connections

from tests import servers


def session_server(variable: str) -> str:
    """The URL of the session's PostgreSQL or Redis server; skips the test when it is not ours to stop."""
    url = os.environ.get(variable, "")
    if not servers.can_stop(url):
        pytest.skip(f"{variable} is not a server this test session started (HITL_TEST_EXTERNAL_SERVERS?)")
    return url


def reconnect() -> None:
    """Drop this process's database connections, dead after a PostgreSQL restart; the next query opens anew."""
    for conn in connections.all():
        conn.close()
