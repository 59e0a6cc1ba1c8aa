"""Jobs of the annotations app: the Dawid–Skene refit behind adaptive overlap, and big projects' statistics."""
from __future__ import annotations

from celery import shared_task

from annotations import adaptive, stats_snapshot
from tasks import jobs


@shared_task(name="annotations.refit_confusion")
def refit_confusion(job_id: int) -> None:
    jobs.run(job_id, adaptive.run_refit_job)


@shared_task(name="annotations.stats_snapshot")
def stats_snapshot_job(job_id: int) -> None:
    jobs.run(job_id, stats_snapshot.run_job)


@shared_task(name="annotations.stats_snapshots_sweep")
def stats_snapshots_sweep() -> int:
    """Beat: refresh the stale snapshots of big projects (see `stats_snapshot.sweep`)."""
    return stats_snapshot.sweep()
