"""What the built-in scikit-learn backends share: a calibrated linear model over features."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from models_registry.backends.base import BackendError, Probabilities


def classifier(task_type: str, targets: list[Any]):
    """A calibrated logistic regression (one-vs-rest for multi-label)."""
    base = LogisticRegression(max_iter=2000, C=4.0)
    if task_type == "multi_label":
        return OneVsRestClassifier(base)
    smallest = min(Counter(targets).values())
    if smallest >= 3:
        # Temperature scaling on cross-validated folds: probabilities that mean what they say
        # (per-class sigmoid calibration flattens many-class probabilities far below 0.95).
        return CalibratedClassifierCV(base, method="temperature", cv=min(3, smallest))
    return base


def encode_targets(task_type: str, labels: list[str], targets: list[Any]):
    if task_type == "multi_label":
        return MultiLabelBinarizer(classes=labels).fit_transform(targets)
    return np.asarray(targets)


def check_trainable(task_type: str, targets: list[Any], minimum: int = 2) -> None:
    """Raise `BackendError` unless `targets` are enough to fit a model (at least `minimum`, two classes)."""
    if len(targets) < minimum:
        raise BackendError(f"Training needs at least {minimum} labeled items; the project has {len(targets)}.")
    if task_type != "multi_label" and len(set(targets)) < 2:
        raise BackendError(f"Training needs labels of at least two classes; all {len(targets)} are "
                           f"{targets[0]!r}.")


def probabilities(pipeline, features, labels: list[str], task_type: str, ok: np.ndarray) -> Probabilities:
    """Class probabilities in the order of the project's labels (absent classes get 0)."""
    raw = pipeline.predict_proba(features)
    probs = np.zeros((raw.shape[0], len(labels)))
    if task_type == "multi_label":
        probs[:, :raw.shape[1]] = raw
    else:
        index = {label: j for j, label in enumerate(labels)}
        for k, cls in enumerate(pipeline.classes_):
            probs[:, index[str(cls)]] = raw[:, k]
    return Probabilities(classes=list(labels), probs=probs, ok=ok)
