"""What starts a training: a person (button or API), the project's schedule, or enough new labels.

At most one training of a project runs at a time (the worker holds a per-project lock, see
`celery_tasks`), and at most one more waits behind it: a trigger that arrives while a training
is waiting joins it instead of queueing another, and is listed in the job's `triggers`.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from models_registry.job_kinds import TRAIN
from models_registry.learners import LEARNERS
from models_registry.models import ModelVersion
from models_registry.training import check_can_train
from tasks import jobs
from tasks.models import Item, Job, JobState, Project

UNFINISHED = (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True)
class Requested:
    job: Job
    coalesced: bool


def request_training(project: Project, *, trigger: str, user=None, force: bool = False) -> Requested:
    check_can_train(project)
    now = timezone.now().isoformat()
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        waiting = Job.objects.select_for_update().filter(
            project=project, kind=TRAIN, state=JobState.PENDING).order_by("id").first()
        if waiting is not None:
            waiting.params["triggers"] = [*waiting.params.get("triggers", []), {"trigger": trigger, "at": now}]
            waiting.params["force"] = bool(waiting.params.get("force") or force)
            waiting.save(update_fields=["params"])
            return Requested(waiting, coalesced=True)
        job = jobs.create_job(TRAIN, project=project, user=user, params={
            "trigger": trigger, "force": force, "triggers": [{"trigger": trigger, "at": now}]})
        return Requested(job, coalesced=False)


def new_labels_since_last_training(project: Project, limit: int) -> int:
    """Human final labels set since the last training was asked for, counted up to `limit`.

    A training's cutoff is when it was asked for (its job's creation), not the labels it happened
    to read: the labels that come in while it waits or runs count toward the next one. A version
    trained without a job (a script, say) counts from its newest label.
    """
    cutoffs = [
        Job.objects.filter(project=project, kind=TRAIN).order_by("-id").values_list("created_at", flat=True).first(),
        ModelVersion.objects.filter(project=project, job__isnull=True).order_by("-version")
        .values_list("last_final_at", flat=True).first(),
    ]
    cutoffs = [c for c in cutoffs if c is not None]
    labels = Item.objects.filter(project=project).human_final()
    if cutoffs:
        labels = labels.filter(final_at__gt=max(cutoffs))
    return labels.order_by()[:limit].count()


def after_final_label(project: Project) -> Job | None:
    """Start a training once `retrain_every` human labels have come in since the last one."""
    if not project.retrain_every or project.task_type not in LEARNERS or project.model_backend != "builtin":
        return None
    if Job.objects.filter(project=project, kind=TRAIN, state__in=UNFINISHED).exists():
        return None  # the labels count toward the next training when this one ends (`after_training`)
    if new_labels_since_last_training(project, project.retrain_every) < project.retrain_every:
        return None
    return request_training(project, trigger="labels").job


def after_training(project_id: int) -> Job | None:
    """When a training ends: the labels that came in meanwhile may already call for the next one."""
    project = Project.objects.filter(pk=project_id).first()
    return None if project is None else after_final_label(project)
