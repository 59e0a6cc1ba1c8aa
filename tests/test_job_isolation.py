"""The test suite's own rules for jobs: only a test that runs a worker has its jobs run, and the session worker
runs no job while a finished test's database is emptied."""
from __future__ import annotations

import time

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hitl.celery import app
from tasks.celery_tasks import requeue_stalled_jobs
from tasks.models import Job
from tests.conftest import UNATTENDED_QUEUE, wait_for_job, wait_until_running


def test_a_test_without_a_worker_sends_its_jobs_to_a_queue_no_worker_consumes():
    assert app.conf.task_default_queue == UNATTENDED_QUEUE
    assert app.amqp.router.route({}, "dataio.build_text_search")["queue"].name == UNATTENDED_QUEUE


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_paused_worker_finishes_its_job_and_takes_no_more_and_resumed_takes_new_ones(worker, settings, as_user, admin,
                                                                                    project):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000

    def upload(n: int) -> int:
        body = b"\n".join(orjson.dumps({"text": f"review {i}, long enough to take a moment"}) for i in range(n))
        r = as_user(admin).post(f"/api/projects/{project.pk}/import/",
                                {"file": SimpleUploadedFile("items.jsonl", body)}, format="multipart")
        assert r.status_code == 202
        return r.json()["job"]

    inspect = app.control.inspect(destination=[worker.name], timeout=5.0, limit=1)
    later = requeue_stalled_jobs.apply_async(countdown=600)  # a retry's wait: the worker holds it until then
    deadline = time.monotonic() + 30
    while later.id not in [job["request"]["id"] for job in (inspect.scheduled() or {}).get(worker.name, [])]:
        assert time.monotonic() < deadline, "the worker did not take the delayed job"
        time.sleep(0.1)
    running, queued = upload(150_000), upload(100)
    wait_until_running(running)
    worker.pause()

    assert Job.objects.get(pk=running).state == "succeeded"
    # The queued one ran too if the worker took its message before the order to pause; no job is left running.
    assert Job.objects.get(pk=queued).state in ("pending", "succeeded")
    assert not Job.objects.filter(state="running").exists()
    assert inspect.active() == {worker.name: []}
    assert inspect.active_queues() == {worker.name: []}
    assert later.id in inspect.revoked()[worker.name]  # it will not run when its time comes

    worker.resume()  # the queue is emptied of what waited, and the worker takes jobs again
    assert [q["name"] for q in inspect.active_queues()[worker.name]] == [worker.queue]
    assert wait_for_job(upload(100)).state == "succeeded"
