"""Fixtures of the fault tests: a Celery worker of a test's own."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import Worker, _celery_env, jobs_sent_to


@pytest.fixture
def own_worker(django_db_blocker, tmp_path):
    """A Celery worker (not started yet) that only this test feeds: the jobs the test process sends, and
    those the worker sends itself (the pre-label after a training), go to a queue of their own, so the
    session `worker` (alive if an earlier test used it) never takes them.
    """
    queue = f"faults-{uuid.uuid4().hex[:12]}"
    env = {**_celery_env(django_db_blocker), "CELERY_TASK_DEFAULT_QUEUE": queue}
    w = Worker(env, log=tmp_path / "worker.log")
    with jobs_sent_to(queue):
        try:
            yield w
        finally:
            w.stop()
