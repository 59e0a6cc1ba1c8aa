"""What training needs to know of each task type, one module per kind of value.

A `Learner` says which training target a final value gives, which built-in backend fits it, how
a model is judged on held-out items (and which metric decides champion against challenger), and
whether the model has classes (then out-of-sample probabilities also point at likely label errors).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models_registry.backends.base import Backend, BackendError, Predictions


@dataclass(frozen=True)
class Learner:
    task_type: str
    # A final value -> the training target, or None when the value gives none.
    target: Callable[[Any], Any]
    # A sample item's data -> the built-in backend class for such items.
    backend: Callable[[dict], type[Backend]]
    # Held-out metrics of `Predictions` against true targets; must include `deciding_metric`.
    evaluate: Callable[[Predictions, list[Any]], dict]
    # Raise BackendError (saying why) unless the targets can train a model: at least `minimum`, varied enough.
    check: Callable[[list[Any], int], None]
    # How many times each label occurs in the targets (the models page's training set).
    count_labels: Callable[[list[Any]], dict[str, int]]
    deciding_metric: str = "accuracy"
    # The metrics the models page shows as columns, first the deciding one; `metrics["per_class"]`
    # ({label: {"precision", "recall", "support", optionally "f1"}}) is shown per label when present.
    headline: tuple[str, ...] = ("accuracy", "macro_f1", "ece")
    # Single-label classes: a class whose every example fell into the held-out part is trained on instead.
    keep_classes_in_training: bool = False
    # Class probabilities: cross-validated out-of-sample probabilities and label issues (cleanlab).
    has_classes: bool = False


def _learners() -> dict[str, Learner]:
    from models_registry.learners import boxes, classes, pairwise, spans

    return {learner.task_type: learner for learner in (*classes.LEARNERS, *spans.LEARNERS, *pairwise.LEARNERS,
                                                       *boxes.LEARNERS)}


LEARNERS: dict[str, Learner] = _learners()


def learner_for(task_type: str) -> Learner:
    try:
        return LEARNERS[task_type]
    except KeyError:
        *others, last = sorted(LEARNERS)
        kinds = f"{', '.join(others)} and {last}" if others else last
        raise BackendError(f"Built-in models exist for {kinds} projects, not {task_type}.") from None
