"""Model jobs: training and pre-labeling. Each takes a job id and is safe to run twice."""
from __future__ import annotations

import logging
from contextlib import contextmanager

from celery import shared_task
from django.db import connection

from models_registry.backends import BackendError
from models_registry.prelabel import prelabel
from models_registry.training import train
from models_registry.triggers import after_training, request_training
from tasks import jobs
from tasks.models import Job, Project

log = logging.getLogger(__name__)

# Namespace of the advisory locks that let one training per project run at a time.
_TRAIN_LOCK_SPACE = 0x747261
# A training that finds another one of its project running tries again this much later.
BUSY_RETRY_SECONDS = 5


@contextmanager
def training_lock(project_id: int):
    """Yield whether this worker may train the project now (PostgreSQL session advisory lock).

    SQLite deployments run a single worker process, which trains one job at a time anyway.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [_TRAIN_LOCK_SPACE, project_id % 2**31])
        held = cur.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", [_TRAIN_LOCK_SPACE, project_id % 2**31])


def _train(job: Job) -> None:
    params = job.params or {}
    train(job.project, user=job.created_by, job=job, trigger=params.get("trigger", "manual"),
          force=bool(params.get("force")))


@shared_task(name="models_registry.train", bind=True, max_retries=None)
def train_model(self, job_id: int) -> None:
    project_id = Job.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
    if project_id is None:
        return
    with training_lock(project_id) as held:
        if not held:
            log.info("project %s is training already; job %s waits", project_id, job_id)
            jobs.mark_waiting(job_id)  # its message is alive: the resend sweep leaves it alone
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        jobs.run(job_id, _train, expected=(BackendError,))
    try:
        after_training(project_id)
    except BackendError as exc:
        log.warning("no training of project %s follows job %s: %s", project_id, job_id, exc)


@shared_task(name="models_registry.prelabel")
def prelabel_items(job_id: int) -> None:
    jobs.run(job_id, lambda job: prelabel(job.project, user=job.created_by, job=job), expected=(BackendError,))


@shared_task(name="models_registry.scheduled_retrain")
def scheduled_retrain(project_id: int) -> None:
    """Fired by beat on the project's `retrain_schedule`."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    try:
        request_training(project, trigger="schedule")
    except BackendError as exc:
        log.warning("scheduled retrain of project %s not started: %s", project_id, exc)
