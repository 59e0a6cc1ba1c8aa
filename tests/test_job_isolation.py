"""The test suite's own rules for jobs: only a test that runs a worker has its jobs run, and a test's jobs are
over before its database is emptied."""
from __future__ import annotations

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hitl.celery import app
from tasks.models import Job
from tests.conftest import UNATTENDED_QUEUE, wait_until_running


def test_a_test_without_a_worker_sends_its_jobs_to_a_queue_no_worker_consumes():
    assert app.conf.task_default_queue == UNATTENDED_QUEUE
    assert app.amqp.router.route({}, "dataio.build_text_search")["queue"].name == UNATTENDED_QUEUE


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_settling_lets_the_running_job_finish_and_leaves_no_job_running(worker, settings, as_user, admin, project):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000
    body = b"\n".join(orjson.dumps({"text": f"review {i}, long enough to take a moment"}) for i in range(150_000))

    def upload() -> int:
        r = as_user(admin).post(f"/api/projects/{project.pk}/import/",
                                {"file": SimpleUploadedFile("items.jsonl", body)}, format="multipart")
        assert r.status_code == 202
        return r.json()["job"]

    running, queued = upload(), upload()
    wait_until_running(running)
    worker.settle()

    assert Job.objects.get(pk=running).state == "succeeded"
    # The queued one was dropped from the queue; or, when the suite's beat is alive, its sweep of pending jobs
    # sent it again and settling waited for it too. It is never left running.
    assert Job.objects.get(pk=queued).state in ("pending", "succeeded")
    assert not Job.objects.filter(state="running").exists()
    replies = app.control.inspect(destination=[worker.name], timeout=2.0, limit=1).active()
    assert replies == {worker.name: []}
