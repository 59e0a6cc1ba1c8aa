"""The test suite's own rule for jobs: only a test that runs a worker has its jobs run."""
from __future__ import annotations

from hitl.celery import app
from tests.conftest import UNATTENDED_QUEUE


def test_a_test_without_a_worker_sends_its_jobs_to_a_queue_no_worker_consumes():
    assert app.conf.task_default_queue == UNATTENDED_QUEUE
    assert app.amqp.router.route({}, "dataio.build_text_search")["queue"].name == UNATTENDED_QUEUE
