"""Classification and multi-label: a calibrated classifier over text or image features."""
from __future__ import annotations

from typing import Any

from models_registry.backends import builtin_for
from models_registry.backends.base import Predictions
from models_registry.backends.sklearn_common import check_trainable
from models_registry.evaluation import metrics
from models_registry.learners import Learner


def _key(name: str):
    return lambda value: value.get(name) if isinstance(value, dict) else None


def _count(targets: list[Any], multi: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in targets:
        for label in (t if multi else [t]):
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def _learner(task_type: str, key: str) -> Learner:
    multi = task_type == "multi_label"

    def evaluate(predicted: Predictions, targets: list[Any]) -> dict:
        assert predicted.classes is not None and predicted.probs is not None
        return metrics(task_type, predicted.classes, predicted.probs, targets)

    return Learner(
        task_type=task_type, target=_key(key), backend=builtin_for, evaluate=evaluate,
        check=lambda targets, minimum: check_trainable(task_type, targets, minimum=minimum),
        count_labels=lambda targets: _count(targets, multi), deciding_metric="accuracy",
        keep_classes_in_training=not multi, has_classes=True)


LEARNERS = (_learner("classification", "label"), _learner("multi_label", "labels"))
