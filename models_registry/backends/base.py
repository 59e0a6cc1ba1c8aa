"""The interface every model backend implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


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
        raise NotImplementedError
