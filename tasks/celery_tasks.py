"""Jobs of the core: lease clean-up, recovery of stalled jobs."""
from __future__ import annotations

from celery import shared_task

from tasks import jobs, queue


@shared_task(name="tasks.release_expired_leases")
def release_expired_leases() -> int:
    return queue.delete_expired_leases()


@shared_task(name="tasks.requeue_stalled_jobs")
def requeue_stalled_jobs() -> int:
    return jobs.requeue_stalled()
