"""Job progress is visible while the job's own transaction is still open."""
from __future__ import annotations

import time

import pytest
from django.db import connections, transaction

from tasks import jobs
from tasks.models import Job, JobState

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_progress_reported_inside_the_work_transaction_is_readable_at_once(as_user, admin, project):
    job = Job.objects.create(kind="prelabel", project=project, state=JobState.RUNNING, created_by=admin)
    with transaction.atomic():
        jobs.report_progress(job, 40, total=100)
        seen = as_user(admin).get(f"/api/jobs/{job.pk}/").json()
        assert (seen["progress"], seen["total"]) == (40, 100)


def test_a_progress_update_that_cannot_get_its_lock_is_skipped_and_the_next_one_catches_up(
        monkeypatch, admin, project):
    """The second connection never waits long: an update queued behind a lock that the job's own transaction
    holds up (a TRUNCATE's, a migration's) would otherwise wait for ever."""
    monkeypatch.setattr(jobs, "PROGRESS_LOCK_TIMEOUT", "200ms")
    connections["jobs"].close()  # set when the connection opens
    job = Job.objects.create(kind="prelabel", project=project, state=JobState.RUNNING, created_by=admin)
    with transaction.atomic():
        Job.objects.select_for_update().get(pk=job.pk)  # another session holds the row
        started = time.monotonic()
        jobs.report_progress(job, 10, total=100)
        assert time.monotonic() - started < 5
    assert Job.objects.get(pk=job.pk).progress == 0  # skipped, the job went on
    jobs.report_progress(job, 20, total=100)
    assert (Job.objects.get(pk=job.pk).progress, Job.objects.get(pk=job.pk).total) == (20, 100)


def test_without_a_second_connection_progress_goes_through_a_side_file(monkeypatch, as_user, admin, project):
    """The embedded SQLite setup has one writer at a time: the web reads a file the worker writes."""
    monkeypatch.setattr(jobs, "_progress_alias", lambda: None)
    job = Job.objects.create(kind="prelabel", project=project, state=JobState.RUNNING, created_by=admin)
    with transaction.atomic():
        jobs.report_progress(job, 25, total=50)
        assert Job.objects.get(pk=job.pk).progress == 0  # not in the table yet
    seen = as_user(admin).get(f"/api/jobs/{job.pk}/").json()
    assert (seen["progress"], seen["total"]) == (25, 50)
    with transaction.atomic():
        jobs.complete(job, {"scored": 50})
    assert not jobs._progress_file(job.pk).exists()


def _synchronous_commit(alias: str) -> tuple[str, str]:
    with connections[alias].cursor() as cur:
        cur.execute("SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'")
        return cur.fetchone()


def test_a_progress_report_does_not_wait_for_the_disk_while_the_work_stays_durable(admin, project):
    """Its commit would wait for the WAL the job's own transaction wrote so far (13 ms a report during a large
    import); progress is a hint the next report repeats. The work's connection keeps the server's setting."""
    connections["jobs"].close()  # set when the connection opens
    job = Job.objects.create(kind="import", project=project, state=JobState.RUNNING, created_by=admin)
    jobs.report_progress(job, 1, total=2)

    assert _synchronous_commit("jobs") == ("off", "session")
    assert _synchronous_commit("default")[1] != "session"
    assert Job.objects.get(pk=job.pk).progress == 1
