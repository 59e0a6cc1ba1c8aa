"""Training a new model version from a project's human final labels, judged against the active one.

The human-labeled items split for good into a training part and a held-out fifth (`holdout`).
A new version (the challenger) is fitted on the training part, scored on the held-out part, and
so is the active version (the champion), on the very same items. The challenger takes over if it
is not worse by more than the project's `promotion_margin`; otherwise it waits for an ML
engineer. Out-of-sample probabilities of every labeled item also point at likely label errors.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Max
from sklearn.model_selection import KFold

from audit import trail
from models_registry import artifacts, label_issues, services
from models_registry.backends import Backend, BackendError, Probabilities
from models_registry.holdout import is_held_out
from models_registry.learners import Learner, learner_for
from models_registry.models import LabelIssue, ModelVersion
from tasks import jobs
from tasks.models import Item, Job, Project

log = logging.getLogger(__name__)

# Labeled items the training part needs before a project can train.
MIN_LABELS = 10
# Folds of the cross-validation that gives every training item an out-of-sample probability.
FOLDS = 3


@dataclass(frozen=True)
class LabelState:
    """How many human final labels a project has, and when the newest was set."""

    count: int
    last: datetime | None

    @classmethod
    def of(cls, project: Project) -> LabelState:
        row = Item.objects.filter(project=project).human_final().aggregate(n=Count("id"), last=Max("final_at"))
        return cls(row["n"], row["last"])

    def same_as(self, mv: ModelVersion) -> bool:
        return mv.labels_seen == self.count and mv.last_final_at == self.last


@dataclass
class LabeledItems:
    ids: list[int] = field(default_factory=list)
    data: list[dict] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)

    def take(self, index) -> LabeledItems:
        return LabeledItems([self.ids[i] for i in index], [self.data[i] for i in index],
                            [self.targets[i] for i in index])


def labeled_items(project: Project, learner: Learner) -> tuple[LabeledItems, LabeledItems]:
    """The training part and the held-out part of the human-labeled items, in id order."""
    train, held = LabeledItems(), LabeledItems()
    rows = Item.objects.filter(project=project).human_final().order_by("id").values_list("id", "data", "final_value")
    for pk, data, value in rows.iterator(chunk_size=5000):
        target = learner.target(value)
        if target is not None:
            part = held if is_held_out(pk) else train
            part.ids.append(pk)
            part.data.append(data)
            part.targets.append(target)
    if learner.keep_classes_in_training:
        # A class whose every example fell into the held-out part could never be learned: train on them.
        missing = set(held.targets) - set(train.targets)
        if missing:
            moved = [i for i, t in enumerate(held.targets) if t in missing]
            kept = [i for i, t in enumerate(held.targets) if t not in missing]
            extra = held.take(moved)
            train = LabeledItems(train.ids + extra.ids, train.data + extra.data, train.targets + extra.targets)
            held = held.take(kept)
    return train, held


def check_can_train(project: Project) -> Learner:
    """The project's learner, if the project trains a built-in model."""
    learner = learner_for(project.task_type)
    if project.model_backend != "builtin":
        raise BackendError("This project uses an external model; train it where it runs.")
    return learner


def no_new_labels_reason(project: Project, state: LabelState | None = None) -> str | None:
    """Why a retrain now would learn nothing, or None if there is something new."""
    latest = ModelVersion.objects.filter(project=project).exclude(backend="http").order_by("-version").first()
    state = state or LabelState.of(project)
    if latest is not None and state.same_as(latest):
        return (f"No new labels since version {latest.version} (trained on the project's {state.count} "
                f"human labels); nothing to retrain on.")
    return None


class _Progress:
    def __init__(self, job: Job | None, total: int):
        self.job, self.total, self.done = job, total, 0

    def step(self) -> None:
        self.done += 1
        if self.job is not None:
            jobs.report_progress(self.job, self.done, total=self.total)


def _out_of_sample(backend: Backend, part: LabeledItems, progress: _Progress) -> np.ndarray | None:
    """Each training item's probabilities from a model fitted on the other folds (None if it cannot be)."""
    n = len(part.ids)
    probs = np.zeros((n, len(backend.labels)))
    try:
        for train_idx, test_idx in KFold(n_splits=min(FOLDS, n), shuffle=True, random_state=0).split(part.ids):
            fold = part.take(train_idx)
            model = backend.fit(fold.data, fold.targets)
            probs[test_idx] = backend.predict(model, part.take(test_idx).data).probs
            progress.step()
    except BackendError as exc:  # a fold with a single class
        log.info("no out-of-sample probabilities: %s", exc)
        return None
    return probs


@dataclass
class Decision:
    activate: bool
    outcome: str  # "first", "activated", "waiting"
    reason: str
    champion: float | None = None
    champion_version: int | None = None

    metric: str = "accuracy"

    def as_dict(self, challenger: float | None, margin: float) -> dict:
        return {"outcome": self.outcome, "metric": self.metric, "challenger": challenger,
                "champion": self.champion, "champion_version": self.champion_version, "margin": margin,
                "reason": self.reason}


def _judge(project: Project, learner: Learner, backend: Backend, held: LabeledItems,
           score: float | None) -> Decision:
    """Champion against challenger on the same held-out items."""
    champion = ModelVersion.objects.active_for(project)
    margin, metric = project.promotion_margin, learner.deciding_metric
    if champion is None:
        return Decision(True, "first", "No version was active; this one takes over.", metric=metric)
    if score is None:
        return Decision(False, "waiting", "No held-out labels to compare on yet; an ML engineer decides.",
                        champion_version=champion.version, metric=metric)
    try:
        model = artifacts.load(champion.artifact.name, champion.artifact_sha256)
    except BackendError as exc:
        services.mark_corrupt(champion, str(exc))
        return Decision(True, "activated", f"The active version {champion.version} cannot be used: {exc}",
                        champion_version=champion.version, metric=metric)
    champion_backend = type(backend)(project.task_type, list(champion.labels))
    theirs = learner.evaluate(champion_backend.predict_values(model, held.data), held.targets)[metric]
    if score >= theirs - margin:
        return Decision(True, "activated", f"Held-out {metric} {score:.4f} against {theirs:.4f} of "
                        f"version {champion.version}: not worse by more than {margin}.", theirs, champion.version,
                        metric)
    return Decision(False, "waiting", f"Held-out {metric} {score:.4f} is below version "
                    f"{champion.version}'s {theirs:.4f} by more than {margin}; an ML engineer decides.",
                    theirs, champion.version, metric)


def _skip(project: Project, reason: str, *, user, job: Job | None) -> None:
    log.info("training of project %s skipped: %s", project.pk, reason)
    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return
        trail.record("model.training_skipped", user=user, project=project, reason=reason)
        if job is not None:
            jobs.complete(job, {"skipped": True, "reason": reason})


def train(project: Project, *, user=None, job: Job | None = None, trigger: str = "manual",
          force: bool = False) -> ModelVersion | None:
    """Fit, judge and store the next version; None if there was nothing new to learn from."""
    learner = check_can_train(project)
    started = time.monotonic()
    state = LabelState.of(project)
    reason = None if force else no_new_labels_reason(project, state)
    if reason:
        _skip(project, reason, user=user, job=job)
        return None
    train_part, held = labeled_items(project, learner)
    if not train_part.ids and not held.ids:
        raise BackendError("Training needs labeled items; the project has no final labels yet.")
    learner.check(train_part.targets + held.targets, MIN_LABELS)
    backend = learner.backend(train_part.data[0])(project.task_type, list(project.labels))
    folds = min(FOLDS, len(train_part.ids)) if learner.has_classes else 0
    progress = _Progress(job, total=folds + 3)

    oos = _out_of_sample(backend, train_part, progress) if learner.has_classes else None
    model = backend.fit(train_part.data, train_part.targets)
    progress.step()
    held_probs = None
    if held.ids:
        predicted = backend.predict_values(model, held.data)
        held_probs = predicted.probs
        scores = learner.evaluate(predicted, held.targets)
        scores["evaluated_on"] = "holdout"
    elif oos is not None:
        ok = np.ones(len(oos), dtype=bool)
        scores = learner.evaluate(backend.from_probabilities(Probabilities(list(project.labels), oos, ok)),
                                  train_part.targets)
        scores["evaluated_on"] = "cross_validation"
    else:
        scores = {}
    score = scores.get(learner.deciding_metric) if held.ids else None
    decision = _judge(project, learner, backend, held, score)
    progress.step()
    issues = _label_issues(project, train_part, held, oos, held_probs)
    return _store(project, learner, backend, model, train_part, held, scores, decision, issues, state,
                  seconds=time.monotonic() - started, user=user, job=job, trigger=trigger)


def _label_issues(project, train_part, held, oos, held_probs) -> list[tuple[int, label_issues.Issue]]:
    ids, targets, probs = [], [], []
    if oos is not None:
        ids += train_part.ids
        targets += train_part.targets
        probs.append(oos)
    if held_probs is not None:
        ids += held.ids
        targets += held.targets
        probs.append(held_probs)
    if not probs:
        return []
    found = label_issues.find(project.task_type, list(project.labels), targets, np.vstack(probs))
    return [(ids[issue.index], issue) for issue in found]


# The figures of a version the audit trail keeps (whichever the task type's metrics have).
_SUMMARY = ("accuracy", "macro_f1", "ece", "f1", "precision", "recall", "log_loss", "map50")


def _store(project, learner: Learner, backend, model, train_part, held, scores, decision: Decision, issues,
           state: LabelState, *, seconds: float, user, job: Job | None, trigger: str) -> ModelVersion:
    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return ModelVersion.objects.get(job=job)
        Project.objects.select_for_update().filter(pk=project.pk).first()  # versions are numbered in turn
        version = (ModelVersion.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        relative = artifacts.relative_path(project.pk, version)
        digest = artifacts.save(model, relative)
        mv = ModelVersion.objects.create(
            project=project, version=version, backend=backend.name, labels=list(project.labels),
            train_size=len(train_part.ids), holdout_size=len(held.ids),
            label_counts=learner.count_labels(train_part.targets), labels_seen=state.count,
            last_final_at=state.last, metrics=scores, artifact=relative, artifact_sha256=digest,
            training_seconds=round(seconds, 3), trigger=trigger, job=job, created_by=user,
            decision=decision.as_dict(scores.get(learner.deciding_metric), project.promotion_margin),
        )
        LabelIssue.objects.bulk_create([
            LabelIssue(model_version=mv, item_id=item_id, rank=rank, given=issue.given, suggested=issue.suggested,
                       given_probability=issue.given_probability, suggested_confidence=issue.suggested_confidence)
            for rank, (item_id, issue) in enumerate(issues, start=1)])
        trail.record("model.trained", user=user, project=project, version=version, train_size=len(train_part.ids),
                     holdout_size=len(held.ids), trigger=trigger,
                     metrics={k: scores[k] for k in _SUMMARY if k in scores}, decision=mv.decision)
        prelabel_job = services.make_active(mv, user=user, reason=decision.outcome) if decision.activate else None
        if job is not None:
            job.progress = job.total or job.progress
            jobs.complete(job, {"model": mv.pk, "version": version, "metrics": scores, "active": decision.activate,
                                "decision": mv.decision, "prelabel_job": prelabel_job.pk if prelabel_job else None})
    return mv
