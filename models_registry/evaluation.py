"""Held-out metrics of a trained model and values from probabilities. Pure numpy/scikit-learn."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def values_and_confidence(task_type: str, classes: list[str], probs: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Each item's predicted value and the model's confidence in it."""
    if task_type == "multi_label":
        chosen = probs >= 0.5
        values = [{"labels": [c for c, on in zip(classes, row) if on]} for row in chosen]
        # Confidence that every yes/no decision is right: the least sure of them.
        confidence = np.maximum(probs, 1.0 - probs).min(axis=1) if probs.shape[1] else np.ones(len(probs))
        return values, confidence
    best = probs.argmax(axis=1)
    return [{"label": classes[j]} for j in best], probs.max(axis=1)


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """The reliability diagram: per equal-width confidence bin, its count, mean confidence and accuracy."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        rows.append({"lower": round(float(edges[b]), 2), "upper": round(float(edges[b + 1]), 2),
                     "count": int(mask.sum()),
                     "confidence": round(float(confidence[mask].mean()), 4) if mask.any() else None,
                     "accuracy": round(float(correct[mask].mean()), 4) if mask.any() else None})
    return rows


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins."""
    total = len(confidence)
    if total == 0:
        return 0.0
    return float(sum(row["count"] / total * abs(row["confidence"] - row["accuracy"])
                     for row in calibration_bins(confidence, correct, bins) if row["count"]))


def metrics(task_type: str, classes: list[str], probs: np.ndarray, truth: list[Any]) -> dict:
    """accuracy, macro_f1, per-class precision/recall and ECE of predictions against true labels."""
    values, confidence = values_and_confidence(task_type, classes, probs)
    if task_type == "multi_label":
        y_true = np.array([[c in set(t) for c in classes] for t in truth], dtype=int)
        y_pred = (probs >= 0.5).astype(int)
        correct = (y_true == y_pred).all(axis=1)
        precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
        macro = f1_score(y_true, y_pred, average="macro", zero_division=0)
        accuracy = float(correct.mean())
        confusion = None
    else:
        predicted = [v["label"] for v in values]
        correct = np.array([p == t for p, t in zip(predicted, truth)])
        precision, recall, _, support = precision_recall_fscore_support(
            truth, predicted, labels=classes, zero_division=0)
        macro = f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)
        accuracy = float(accuracy_score(truth, predicted))
        # Rows: the human value, columns: the model's; labels the model does not know get a row too.
        names = list(classes) + sorted({t for t in truth if t not in set(classes)})
        confusion = {"labels": names,
                     "matrix": confusion_matrix(truth, predicted, labels=names).tolist() if truth else []}
    return {
        "accuracy": round(accuracy, 4),
        "macro_f1": round(float(macro), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
        "per_class": {c: {"precision": round(float(p), 4), "recall": round(float(r), 4), "support": int(s)}
                      for c, p, r, s in zip(classes, precision, recall, support)},
        "test_size": len(truth),
        "calibration": calibration_bins(confidence, correct),
        **({"confusion": confusion} if confusion else {}),
    }
