"""Model jobs: training and pre-labeling. Each takes a job id and is safe to run twice."""
from __future__ import annotations

from celery import shared_task

from models_registry.backends import BackendError
from models_registry.prelabel import prelabel
from models_registry.training import train
from tasks import jobs


@shared_task(name="models_registry.train")
def train_model(job_id: int) -> None:
    jobs.run(job_id, lambda job: train(job.project, user=job.created_by, job=job), expected=(BackendError,))


@shared_task(name="models_registry.prelabel")
def prelabel_items(job_id: int) -> None:
    jobs.run(job_id, lambda job: prelabel(job.project, user=job.created_by, job=job), expected=(BackendError,))
