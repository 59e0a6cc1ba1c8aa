"""The active built-in model of a project, loaded to score item data outside pre-labeling (exports)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from models_registry import artifacts
from models_registry.backends import BACKENDS, Backend, BackendError
from models_registry.backends.base import Predictions
from models_registry.models import ModelVersion
from tasks.models import Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveModel:
    version: int
    backend: Backend
    model: Any

    def predict(self, data: list[dict]) -> Predictions:
        return self.backend.predict_values(self.model, data)


def active_builtin(project: Project) -> ActiveModel | None:
    """The project's active built-in version, loaded; None without one.

    An external (HTTP) model is never asked from here, and a version whose file cannot be loaded
    gives None too (logged): a reader of scores should not fail because a model file is damaged.
    """
    if project.model_backend != "builtin":
        return None
    mv = ModelVersion.objects.active_for(project)
    backend_cls = BACKENDS.get(mv.backend) if mv is not None else None
    if mv is None or backend_cls is None or not backend_cls.trainable:
        return None
    try:
        model = artifacts.load(mv.artifact.name, mv.artifact_sha256)
    except BackendError as exc:
        log.warning("project %s: the active version %s cannot be loaded: %s", project.pk, mv.version, exc)
        return None
    return ActiveModel(mv.version, backend_cls(project.task_type, list(mv.labels)), model)


# Loaded versions kept per process for live predictions, keyed by the version row and its file's hash
# (a retrained or re-activated version is another key; an old one falls out of the small LRU).
_LOADED: dict[tuple[int, str], ActiveModel] = {}
_LOADED_MAX = 8


def live_model(project: Project) -> ActiveModel | None:
    """The project's active built-in version for one-item predictions (a live decision): loaded once per
    process and version, then only the active version's lookup (one indexed query) per call."""
    if project.model_backend != "builtin":
        return None
    mv = ModelVersion.objects.active_for(project)
    if mv is None:
        return None
    key = (mv.pk, mv.artifact_sha256)
    if key not in _LOADED:
        loaded = active_builtin(project)
        if loaded is None:
            return None
        while len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = loaded
    return _LOADED[key]


def predict_one(project: Project, data: dict) -> tuple[Any, float, int] | None:
    """The active built-in model's value, confidence and version for one item's data; None without a model
    or when it could not score the item (a broken model never fails the caller: logged, and people decide)."""
    model = live_model(project)
    if model is None:
        return None
    try:
        predictions = model.predict([data])
    except Exception:
        log.warning("project %s: version %s could not score a live item", project.pk, model.version, exc_info=True)
        return None
    if not bool(predictions.ok[0]):
        return None
    return predictions.values[0], float(predictions.confidence[0]), model.version
