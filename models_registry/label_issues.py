"""Likely label errors: human final values that a model trained without them finds improbable.

Confident learning (cleanlab) on out-of-sample probabilities: each item's probabilities come from
a model that did not see the item, so a model cannot simply have memorised a wrong label.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MOST = 100


@dataclass(frozen=True)
class Issue:
    index: int  # into the rows that were scored
    given: Any
    suggested: Any
    given_probability: float
    suggested_confidence: float


def _suggestion(task_type: str, classes: list[str], row: np.ndarray) -> tuple[Any, float]:
    if task_type == "multi_label":
        on = row >= 0.5
        return {"labels": [c for c, yes in zip(classes, on) if yes]}, float(np.maximum(row, 1 - row).min())
    j = int(row.argmax())
    return {"label": classes[j]}, float(row[j])


def find(task_type: str, classes: list[str], targets: list[Any], probs: np.ndarray, most: int = MOST) -> list[Issue]:
    """The likeliest label errors among `targets`, worst first, given out-of-sample `probs`."""
    index = {c: j for j, c in enumerate(classes)}
    multi = task_type == "multi_label"
    keep = [i for i, t in enumerate(targets)
            if (all(x in index for x in t) if multi else t in index)]
    if len(keep) < 2 or probs.shape[1] < 2:
        return []
    p = probs[keep]
    if multi:
        labels = [[index[x] for x in targets[i]] for i in keep]
        given_p = np.array([float(np.prod([row[j] if j in set(lab) else 1 - row[j] for j in range(len(classes))]))
                            for row, lab in zip(p, labels)])
    else:
        labels = np.array([index[targets[i]] for i in keep])
        # cleanlab expects rows that sum to one.
        p = np.clip(p, 1e-9, None)
        p = p / p.sum(axis=1, keepdims=True)
        given_p = p[np.arange(len(labels)), labels]
    # Imported here: cleanlab brings pandas and datasets (0.7 s), which every process paid at start-up before.
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.filter import find_label_issues as find_multilabel_issues

    try:
        if multi:
            ranked = find_multilabel_issues(labels, p, return_indices_ranked_by="self_confidence", n_jobs=1)
        else:
            ranked = find_label_issues(labels, p, return_indices_ranked_by="self_confidence", n_jobs=1)
    except (ValueError, IndexError, ZeroDivisionError) as exc:
        # Too few examples per class for confident learning: fall back to its ranking alone.
        log.info("cleanlab could not run (%s); ranking by self-confidence", exc)
        ranked = [int(i) for i in np.argsort(given_p) if given_p[i] < 0.5]
    issues = []
    for k in list(ranked)[:most]:
        suggested, confidence = _suggestion(task_type, classes, probs[keep[k]])
        given = {"labels": targets[keep[k]]} if multi else {"label": targets[keep[k]]}
        issues.append(Issue(keep[k], given, suggested, round(float(given_p[k]), 4), round(confidence, 4)))
    return issues
