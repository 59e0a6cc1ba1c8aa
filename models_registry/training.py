"""Training a new model version from a project's final labels and evaluating it on held-out ones."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max
from sklearn.model_selection import train_test_split

from models_registry import artifacts
from models_registry.backends import BackendError, builtin_for
from models_registry.backends.sklearn_common import check_trainable
from models_registry.evaluation import metrics
from models_registry.models import ModelVersion
from tasks import audit, jobs
from tasks.models import FinalSource, Item, Job, Project

# Final values that are human (or gold) truth; the model's own acceptances are not.
TRUTH_SOURCES = (FinalSource.GOLD, FinalSource.CONSENSUS, FinalSource.REVIEWER)
TRAINABLE_TASKS = ("classification", "multi_label")
# Labeled items a project needs before it can train (the held-out fifth is fitted on fewer).
MIN_LABELS = 10


def training_set(project: Project) -> tuple[list[dict], list[Any]]:
    """Data and targets of every item with a human final value, in id order."""
    rows = Item.objects.filter(project=project, final_source__in=TRUTH_SOURCES).order_by("id").values_list(
        "data", "final_value")
    data, targets = [], []
    key = "labels" if project.task_type == "multi_label" else "label"
    for d, value in rows.iterator(chunk_size=5000):
        if isinstance(value, dict) and key in value:
            data.append(d)
            targets.append(value[key])
    return data, targets


def check_can_train(project: Project) -> None:
    if project.task_type not in TRAINABLE_TASKS:
        raise BackendError(f"Built-in models exist for classification and multi_label projects, "
                           f"not {project.task_type}.")
    if project.model_backend != "builtin":
        raise BackendError("This project uses an external model; train it where it runs.")


def _split(targets: list[Any], multi: bool):
    idx = np.arange(len(targets))
    stratify = None if multi else targets
    try:
        return train_test_split(idx, test_size=0.2, random_state=0, stratify=stratify)
    except ValueError:  # a class too rare to stratify; its only example is needed for training
        counts = Counter(targets)
        rare = np.array([counts[t] < 2 for t in targets], dtype=bool)
        train_idx, test_idx = train_test_split(idx[~rare], test_size=0.2, random_state=0)
        return np.concatenate([train_idx, idx[rare]]), test_idx


def train(project: Project, *, user=None, job: Job | None = None) -> ModelVersion:
    """Fit, evaluate on a held-out fifth, refit on everything, store as the next version.

    The first model of a project becomes active at once; later ones wait for `activate`.
    """
    check_can_train(project)
    started = time.monotonic()
    data, targets = training_set(project)
    if not data:
        raise BackendError("Training needs labeled items; the project has no final labels yet.")
    # The whole label set, before the held-out split: the message counts what the project has.
    check_trainable(project.task_type, targets, minimum=MIN_LABELS)
    backend = builtin_for(data[0])(project.task_type, list(project.labels))
    train_idx, test_idx = _split(targets, project.task_type == "multi_label")
    # fit raises BackendError for too few labels or a single class.
    held_out_model = backend.fit([data[i] for i in train_idx], [targets[i] for i in train_idx])
    if job is not None:
        jobs.report_progress(job, 1, total=3)
    predicted = backend.predict(held_out_model, [data[i] for i in test_idx])
    scores = metrics(project.task_type, predicted.classes, predicted.probs, [targets[i] for i in test_idx])
    model = backend.fit(data, targets)
    if job is not None:
        jobs.report_progress(job, 2, total=3)
    seconds = time.monotonic() - started

    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return ModelVersion.objects.get(job=job)
        Project.objects.select_for_update().filter(pk=project.pk).first()  # versions are numbered in turn
        version = (ModelVersion.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        relative = artifacts.relative_path(project.pk, version)
        artifacts.save(model, relative)
        first = not ModelVersion.objects.filter(project=project, active=True).exists()
        mv = ModelVersion.objects.create(
            project=project, version=version, backend=backend.name, labels=list(project.labels),
            train_size=len(data), metrics=scores, artifact=relative, training_seconds=round(seconds, 3),
            active=first, job=job, created_by=user,
        )
        audit.record("model.trained", user=user, project=project, version=version, train_size=len(data),
                     metrics={k: scores[k] for k in ("accuracy", "macro_f1", "ece")}, activated=first)
        if job is not None:
            job.progress = 3
            jobs.complete(job, {"model": mv.pk, "version": version, "metrics": scores, "active": first})
    return mv
