"""Boxes: the built-in blob detector (`backends.boxes`), judged by mAP@0.5 on held-out items."""
from __future__ import annotations

from typing import Any

from models_registry.backends.base import BackendError, Predictions
from models_registry.backends.boxes import BoxBackend
from models_registry.evaluation_boxes import box_metrics
from models_registry.learners import Learner


def target(value: Any) -> list[dict] | None:
    """A final value's boxes (an empty list is a target too: the image holds nothing)."""
    boxes = value.get("boxes") if isinstance(value, dict) else None
    return boxes if isinstance(boxes, list) else None


def check(targets: list[Any], minimum: int) -> None:
    if len(targets) < minimum:
        raise BackendError(f"Training needs at least {minimum} labeled items; the project has {len(targets)}.")
    if not any(targets):
        raise BackendError(f"Training needs boxes; the project's {len(targets)} labeled images have none.")


def count_labels(targets: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for boxes in targets:
        for box in boxes:
            counts[box["label"]] = counts.get(box["label"], 0) + 1
    return dict(sorted(counts.items()))


def evaluate(predicted: Predictions, targets: list[Any]) -> dict:
    """Held-out metrics of box `Predictions` (each box's score in `scores[i]["boxes"]`) against true boxes."""
    found = [s.get("boxes", []) if ok else [] for s, ok in zip(predicted.scores, predicted.ok)]
    labels = sorted({b["label"] for boxes in (*targets, *found) for b in boxes})
    return box_metrics(labels, found, targets, predicted.confidence)


LEARNERS = (Learner(task_type="boxes", target=target, backend=lambda sample: BoxBackend, evaluate=evaluate,
                    check=check, count_labels=count_labels, deciding_metric="map50",
                    headline=("map50", "precision", "recall", "ece"), has_classes=False),)
