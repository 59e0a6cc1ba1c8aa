"""Uncertainty scores that order the labeling queue. Pure numpy, no ORM.

Each strategy maps an (n_items, n_classes) matrix of class probabilities to a priority per item:
higher is served first. The queue (tasks.queue) only reads the stored number.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """1 - the top class probability."""
    return 1.0 - probs.max(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """1 - (top - runner-up): small margins first."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy, normalised to [0, 1] by log(n_classes)."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(probs.shape[1])


def random(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A random order."""
    return (rng or np.random.default_rng()).random(len(probs))


def sequential(probs: np.ndarray) -> np.ndarray:
    """Import order: every item the same priority, ties broken by id."""
    return np.zeros(len(probs))


STRATEGIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
    "random": random,
    "sequential": sequential,
}


def _per_decision(score: Callable[[np.ndarray], np.ndarray], probs: np.ndarray) -> np.ndarray:
    """Multi-label: score each column as its own yes/no pair; an item is as uncertain as its least sure one."""
    n, k = probs.shape
    if k == 0:
        return np.zeros(n)
    pairs = np.stack([probs, 1.0 - probs], axis=2).reshape(n * k, 2)
    return score(pairs).reshape(n, k).max(axis=1)


def priorities(strategy: str, probs: np.ndarray, *, multi_label: bool = False) -> np.ndarray:
    """Queue priorities of the items whose class probabilities are `probs`.

    With `multi_label`, each column is an independent yes/no probability (rows do not sum to 1),
    so a row of confident "no"s is certain, not the most uncertain item of all.
    """
    try:
        score = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {sorted(STRATEGIES)}") from None
    if multi_label and score in (least_confidence, margin, entropy):
        return _per_decision(score, probs)
    return score(probs)


def structured_priorities(strategy: str, confidence: np.ndarray, uncertainty: np.ndarray | None = None) -> np.ndarray:
    """Queue priorities of structured predictions (spans, boxes), which have no class matrix.

    Least confidence is 1 - the item's confidence (its least sure span or box); entropy and margin
    use the model's own uncertainty where it gives one (e.g. the mean token entropy of a sequence).
    """
    confidence = np.asarray(confidence, dtype=float)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {sorted(STRATEGIES)}")
    if strategy == "sequential":
        return np.zeros(len(confidence))
    if strategy in ("entropy", "margin") and uncertainty is not None:
        return np.asarray(uncertainty, dtype=float)
    return 1.0 - confidence
