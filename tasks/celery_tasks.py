"""Jobs of the core: imports, lease clean-up, recovery of stalled jobs."""
from __future__ import annotations

from celery import shared_task

from tasks import jobs, queue
from tasks.importing import run_import_job
from tasks.records import RecordError


@shared_task(name="tasks.import_items")
def import_items(job_id: int) -> None:
    jobs.run(job_id, run_import_job, expected=(RecordError,))


@shared_task(name="tasks.release_expired_leases")
def release_expired_leases() -> int:
    return queue.delete_expired_leases()


@shared_task(name="tasks.requeue_stalled_jobs")
def requeue_stalled_jobs() -> int:
    return jobs.requeue_stalled()
