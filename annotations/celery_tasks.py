"""Jobs of the annotations app: the Dawid–Skene refit behind adaptive overlap."""
from __future__ import annotations

from celery import shared_task

from annotations import adaptive
from tasks import jobs


@shared_task(name="annotations.refit_confusion")
def refit_confusion(job_id: int) -> None:
    jobs.run(job_id, adaptive.run_refit_job)
