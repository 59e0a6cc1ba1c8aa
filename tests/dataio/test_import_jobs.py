"""Large imports run as Celery jobs on a real worker with a real Redis broker."""
from __future__ import annotations

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dataio.celery_tasks import import_items
from tasks.models import Item, Job
from tests.conftest import wait_for_job, wait_until_running

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _jsonl(n: int, bad_line: int | None = None) -> bytes:
    lines = []
    for i in range(1, n + 1):
        record = {"text": f"review number {i}, rather long so the file is big enough", "external_id": f"r{i}"}
        if i == bad_line:
            record = {"txt": "oops"}
        lines.append(orjson.dumps(record))
    return b"\n".join(lines) + b"\n"


def _upload(client, project, body: bytes, name: str = "items.jsonl"):
    return client.post(f"/api/projects/{project.pk}/import/",
                        {"file": SimpleUploadedFile(name, body)}, format="multipart")


@pytest.fixture
def small_inline_limit(settings):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000


def test_large_upload_is_imported_by_the_worker(worker, small_inline_limit, as_user, admin, project):
    r = _upload(as_user(admin), project, _jsonl(3000))
    assert r.status_code == 202
    job = wait_for_job(r.json()["job"])

    assert job.state == "succeeded", job.error
    assert job.result == {"imported": 3000, "updated": 0, "skipped": 0, "annotations": 0}
    assert job.progress == job.total == 3000
    assert Item.objects.filter(project=project).count() == 3000
    status = as_user(admin).get(f"/api/jobs/{job.pk}/").json()
    assert status["state"] == "succeeded" and status["kind"] == "import"


def test_a_bad_line_fails_the_job_naming_it_and_imports_nothing(worker, small_inline_limit, as_user, admin,
                                                                 project):
    r = _upload(as_user(admin), project, _jsonl(8000, bad_line=7777))
    job = wait_for_job(r.json()["job"])

    assert job.state == "failed"
    assert "line 7777" in job.error and "data.text" in job.error
    assert Item.objects.filter(project=project).count() == 0


def test_a_worker_killed_mid_import_loses_nothing_and_the_job_reruns(worker, small_inline_limit, as_user, admin,
                                                                      project):
    n = 150_000
    r = _upload(as_user(admin), project, _jsonl(n))
    job_id = r.json()["job"]
    wait_until_running(job_id)

    worker.kill()
    job = Job.objects.get(pk=job_id)
    assert job.progress < n
    assert Item.objects.filter(project=project).count() == 0, "a half-done import was left behind"

    # The unacknowledged message goes to the next worker, which runs the whole job again.
    worker.start()
    job = wait_for_job(job_id, timeout=120)
    assert job.state == "succeeded", job.error
    assert job.attempts >= 2
    assert Item.objects.filter(project=project).count() == n
    assert Item.objects.filter(project=project).values("external_id").distinct().count() == n


def test_running_a_finished_job_again_changes_nothing(worker, small_inline_limit, as_user, admin, project):
    job = wait_for_job(_upload(as_user(admin), project, _jsonl(2000)).json()["job"])
    assert job.state == "succeeded"

    import_items(job.pk)  # a duplicate delivery of the same message

    assert Item.objects.filter(project=project).count() == 2000
    assert Job.objects.get(pk=job.pk).attempts == job.attempts


def test_a_failed_job_can_be_retried(worker, small_inline_limit, as_user, admin, project, settings):
    r = _upload(as_user(admin), project, _jsonl(3000))
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded"
    # Simulate a job lost by its worker: reset it to failed, then retry through the API.
    Job.objects.filter(pk=job.pk).update(state="failed", error="lost")
    Item.objects.filter(project=project).delete()
    r = as_user(admin).post(f"/api/jobs/{job.pk}/retry/")
    assert r.status_code == 202
    job = wait_for_job(job.pk)
    # The stored upload was removed after the first success, so the retry says what to do.
    assert job.state == "failed"
    assert "upload it again" in job.error
