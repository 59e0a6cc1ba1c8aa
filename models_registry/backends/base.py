"""The interface every model backend implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from models_registry.evaluation import values_and_confidence


class BackendError(Exception):
    """A model could not be trained, loaded or asked; the message says why, for the user."""


@dataclass
class Probabilities:
    """Class probabilities of a batch: `probs[i, j]` is item i's probability of `classes[j]`.

    For multi-label projects each column is an independent yes/no probability.
    `ok[i]` is False where an item could not be scored (e.g. a broken image).
    """

    classes: list[str]
    probs: np.ndarray
    ok: np.ndarray


@dataclass
class Predictions:
    """What a model says about a batch, for any task type.

    `values[i]` is item i's predicted value in the task type's shape (`tasks.values`), `confidence[i]`
    the model's confidence in it (for structured values: in its least sure part), `scores[i]` what is
    kept with the prediction (class probabilities, or each span's or box's confidence). Models with
    classes also give `classes` and `probs` (uncertainty order, label issues); structured ones may
    give `uncertainty` (higher: less sure, e.g. a sequence's token entropy) for the entropy and
    margin orders. `ok[i]` is False where an item could not be scored.
    """

    values: list[Any]
    confidence: np.ndarray
    ok: np.ndarray
    scores: list[dict]
    classes: list[str] | None = None
    probs: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    # Suggested answers to the project's rubric questions, per item (an external judge's), or None.
    answers: list[dict | None] | None = None


class Backend:
    name: ClassVar[str]
    trainable: ClassVar[bool] = True

    def __init__(self, task_type: str, labels: list[str]):
        self.task_type = task_type
        self.labels = labels

    def fit(self, data: list[dict], targets: list[Any]) -> Any:
        """Fit and return a picklable model. `targets` are labels, or label lists for multi_label."""
        raise NotImplementedError

    def predict(self, model: Any, data: list[dict]) -> Probabilities:
        """Class probabilities, for models with classes."""
        raise NotImplementedError

    def predict_values(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Predictions:
        """Values and confidences: from the class probabilities unless a backend predicts values itself."""
        return self.from_probabilities(self.predict(model, data))

    def from_probabilities(self, result: Probabilities) -> Predictions:
        values, confidence = values_and_confidence(self.task_type, result.classes, result.probs)
        scores = [{c: round(float(p), 6) for c, p in zip(result.classes, row)} for row in result.probs]
        return Predictions(values, confidence, result.ok, scores, result.classes, result.probs)
