"""Writes to the model registry: which version serves, and the pre-labeling that follows a change."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit import trail
from models_registry import artifacts, signals
from models_registry.backends import BackendError
from models_registry.job_kinds import PRELABEL
from models_registry.models import ModelVersion
from tasks import jobs
from tasks.models import Job, JobState, Project


def mark_corrupt(mv: ModelVersion, error: str) -> None:
    """Record that a version's stored file cannot be used; it is never activated again."""
    ModelVersion.objects.filter(pk=mv.pk).update(corrupt=True, error=error)
    trail.record("model.corrupt", project=mv.project_id, version=mv.version, error=error)
    mv.corrupt, mv.error = True, error


def check_usable(mv: ModelVersion) -> None:
    """Raise `BackendError` (and mark the version) if its stored file is missing or damaged."""
    if mv.backend == "http":
        return
    if mv.corrupt:
        raise BackendError(f"Version {mv.version} cannot be activated: {mv.error}")
    try:
        artifacts.load(mv.artifact.name, mv.artifact_sha256)
    except BackendError as exc:
        with transaction.atomic():
            mark_corrupt(mv, str(exc))
        raise BackendError(f"Version {mv.version} cannot be activated: {exc}") from None


def make_active(mv: ModelVersion, *, user=None, reason: str = "manual") -> Job:
    """Inside a transaction: make `mv` the serving version and re-score the queue with it."""
    now = timezone.now()
    current = ModelVersion.objects.active_for(mv.project_id)
    previous = current if current is not None and current.pk != mv.pk else None
    if previous is not None:
        ModelVersion.objects.filter(pk=previous.pk).update(active=False)
    ModelVersion.objects.filter(pk=mv.pk).update(active=True, activated_at=now)
    mv.active, mv.activated_at = True, now
    trail.record("model.activated", user=user, project=mv.project_id, version=mv.version, reason=reason,
                 previous=previous.version if previous else None)
    signals.model_activated.send(sender=ModelVersion, project_id=mv.project_id, model_version_id=mv.pk,
                                 version=mv.version, reason=reason, previous=previous.version if previous else None)
    return start_prelabel(mv.project, user=user)


def activate(mv: ModelVersion, *, user=None) -> Job:
    """Make this version the one that pre-labels; refuse one whose file cannot be loaded."""
    check_usable(mv)  # a missing or corrupt file keeps the current model in service
    with transaction.atomic():
        return make_active(mv, user=user)


def rollback_target(project: Project) -> ModelVersion | None:
    """The version that served before the current one (a damaged one is never a target)."""
    return (ModelVersion.objects.filter(project=project, activated_at__isnull=False, corrupt=False)
            .exclude(active=True).order_by("-activated_at").first())


def rollback(project: Project, *, user=None) -> tuple[ModelVersion, Job]:
    """Bring back the version that served before the current one."""
    current = ModelVersion.objects.active_for(project)
    earlier = rollback_target(project)
    if earlier is None:
        raise BackendError("No earlier active version to roll back to.")
    check_usable(earlier)
    with transaction.atomic():
        job = make_active(earlier, user=user, reason=f"rollback from version {current.version}" if current
                          else "rollback")
    return earlier, job


def start_prelabel(project: Project, *, user=None) -> Job:
    """Queue a pre-label run, or join one that has not started yet (it will use the newest model)."""
    if project.model_backend == "http":
        if not project.model_endpoint:
            raise BackendError("The project names no model endpoint.")
    elif ModelVersion.objects.active_for(project) is None:
        raise BackendError("The project has no active model; train one (or activate a version) first.")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        waiting = Job.objects.filter(project=project, kind=PRELABEL, state=JobState.PENDING).first()
        if waiting is not None:
            return waiting
        return jobs.create_job(PRELABEL, project=project, user=user)
