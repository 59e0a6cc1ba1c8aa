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
