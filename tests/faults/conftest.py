"""What the fault tests share: a Celery worker of a test's own, and the session's servers to stop."""
from __future__ import annotations

import os
import uuid

import pytest
from django.db import connections

from tests import servers
from tests.conftest import Worker, _celery_env


@pytest.fixture
def own_worker(django_db_blocker, tmp_path):
    """A Celery worker (not started yet) that only this test feeds: the jobs the test process sends go
    to a queue of its own, so the session `worker` (alive if an earlier test used it) never takes them.

    What the worker itself sends (the pre-label after a training) still goes to the default queue.
    """
    from hitl.celery import app

    queue = f"faults-{uuid.uuid4().hex[:12]}"
    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    w = Worker(_celery_env(django_db_blocker), log=tmp_path / "worker.log", queue=queue)
    try:
        yield w
    finally:
        w.stop()
        app.conf.task_default_queue = default


def session_server(variable: str) -> str:
    """The URL of the session's PostgreSQL or Redis server; skips the test when it is not ours to stop."""
    url = os.environ.get(variable, "")
    if not servers.can_stop(url):
        pytest.skip(f"{variable} is not a server this test session started (HITL_TEST_EXTERNAL_SERVERS?)")
    return url


def reconnect() -> None:
    """Drop this process's database connections, dead after a PostgreSQL restart; the next query opens anew."""
    for conn in connections.all():
        conn.close_if_unusable_or_obsolete()
        conn.close()
