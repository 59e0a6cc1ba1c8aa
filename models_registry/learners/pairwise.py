"""Pairwise preference: the built-in reward model (`backends.pairwise`), judged on held-out choices.

The target is the final choice, "a", "b" or "tie". Held-out metrics are over the decided items
(a or b; a tie has no right side to predict): accuracy, log-loss, ECE and the reliability bins of
P(chosen side); `ties` counts the held-out ties left out. No label issues: those need probabilities
over the project's labels, and a pairwise project has none (`has_classes` False).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from models_registry.backends.base import Backend, BackendError, Predictions
from models_registry.backends.pairwise import SIDES, TIE, RewardBackend
from models_registry.evaluation import calibration_bins, expected_calibration_error
from models_registry.learners import Learner

# Probabilities are clipped this far from 0 and 1 for the log-loss (a sure mistake is not infinite).
EPS = 1e-6


def target(value: Any) -> str | None:
    choice = value.get("choice") if isinstance(value, dict) else None
    return choice if choice in SIDES or choice == TIE else None


def check(targets: list[Any], minimum: int) -> None:
    """Raise `BackendError` unless there are `minimum` decided choices, of both sides."""
    decided = [t for t in targets if t in SIDES]
    ties = len(targets) - len(decided)
    if len(decided) < minimum:
        also = f" (and {ties} {'tie' if ties == 1 else 'ties'}, which prefer neither)" if ties else ""
        raise BackendError(f"Training needs at least {minimum} items where a or b was chosen; the project has "
                           f"{len(decided)}{also}.")
    if len(set(decided)) < 2:
        raise BackendError(f"Training needs choices of both sides; all {len(decided)} chose {decided[0]!r}. "
                           f"Held-out accuracy could not tell a preference from always picking that side; if "
                           f"the preferred answer was always imported as {decided[0]!r}, shuffle the sides.")


def metrics(p_a: np.ndarray, targets: list[Any]) -> dict:
    """Held-out metrics of P(a preferred) against the final choices; ties are counted, not scored."""
    p_a = np.asarray(p_a, dtype=float)
    keep = [i for i, t in enumerate(targets) if t in SIDES]
    truth = np.array([targets[i] == "a" for i in keep], dtype=bool)
    p = np.clip(p_a[keep], EPS, 1.0 - EPS)
    predicted_a = p >= 0.5
    correct = predicted_a == truth
    confidence = np.maximum(p, 1.0 - p)
    out: dict[str, Any] = {"test_size": len(keep), "ties": len(targets) - len(keep)}
    if not keep:
        return {**out, "accuracy": None, "log_loss": None, "ece": None, "per_class": {},
                "calibration": calibration_bins(confidence, correct)}
    human, model = np.where(truth, "a", "b"), np.where(predicted_a, "a", "b")
    precision, recall, _, support = precision_recall_fscore_support(human, model, labels=SIDES, zero_division=0)
    return {
        **out,
        "accuracy": round(float(correct.mean()), 4),
        "log_loss": round(float(-np.mean(np.where(truth, np.log(p), np.log(1.0 - p)))), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
        # Per side: a model that favours one position shows it here.
        "per_class": {side: {"precision": round(float(pr), 4), "recall": round(float(rc), 4), "support": int(s)}
                      for side, pr, rc, s in zip(SIDES, precision, recall, support)},
        "calibration": calibration_bins(confidence, correct),
        # Rows: the human choice, columns: the model's.
        "confusion": {"labels": list(SIDES), "matrix": confusion_matrix(human, model, labels=SIDES).tolist()},
    }


def evaluate(predicted: Predictions, targets: list[Any]) -> dict:
    assert predicted.probs is not None
    return metrics(predicted.probs[:, 0], targets)


def count_labels(targets: list[Any]) -> dict[str, int]:
    return {c: n for c in (*SIDES, TIE) if (n := sum(t == c for t in targets))}


def backend(sample: dict) -> type[Backend]:
    return RewardBackend


LEARNERS = (Learner(task_type="pairwise", target=target, backend=backend, evaluate=evaluate, check=check,
                    count_labels=count_labels, deciding_metric="accuracy", headline=("accuracy", "log_loss", "ece"),
                    keep_classes_in_training=False, has_classes=False),)
