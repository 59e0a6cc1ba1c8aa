"""Writes to the model registry: activation, and starting training and pre-labeling jobs."""
from __future__ import annotations

from django.db import transaction

from models_registry import artifacts
from models_registry.backends import BackendError
from models_registry.models import ModelVersion
from models_registry.training import check_can_train
from tasks import audit, jobs
from tasks.models import Job, JobKind, Project


def activate(mv: ModelVersion, *, user=None) -> ModelVersion:
    """Make this version the one that pre-labels; refuse one whose file cannot be loaded."""
    if mv.backend != "http":
        artifacts.load(mv.artifact.name)  # a missing or corrupt file keeps the current model in service
    with transaction.atomic():
        ModelVersion.objects.filter(project_id=mv.project_id, active=True).exclude(pk=mv.pk).update(active=False)
        ModelVersion.objects.filter(pk=mv.pk).update(active=True)
        audit.record("model.activated", user=user, project=mv.project_id, version=mv.version)
    mv.active = True
    return mv


def start_training(project: Project, *, user=None) -> Job:
    check_can_train(project)
    with transaction.atomic():
        return jobs.create_job(JobKind.TRAIN, project=project, user=user)


def start_prelabel(project: Project, *, user=None) -> Job:
    if project.model_backend == "http":
        if not project.model_endpoint:
            raise BackendError("The project names no model endpoint.")
    elif not ModelVersion.objects.filter(project=project, active=True).exists():
        raise BackendError("The project has no active model; train one (or activate a version) first.")
    with transaction.atomic():
        return jobs.create_job(JobKind.PRELABEL, project=project, user=user)
