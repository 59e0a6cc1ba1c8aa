"""Spans (named entities): a CRF sequence model, judged by exact-match span F1 (seqeval).

The target of a final value is its list of spans; the item's text comes with its data. A predicted
span counts as right only if its start, end and label are exactly those of a true span.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from seqeval.metrics import classification_report

from models_registry.backends.base import BackendError, Predictions
from models_registry.backends.spans import SpansBackend, check_spans
from models_registry.evaluation import calibration_bins, expected_calibration_error
from models_registry.learners import Learner

Span = dict[str, Any]


def target(value: Any) -> list[Span] | None:
    """The spans of a final value ({start, end, label} each), or None if it is no spans value."""
    spans = value.get("spans") if isinstance(value, dict) else None
    if not isinstance(spans, list):
        return None
    return [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in spans]


def check(targets: list[list[Span]], minimum: int) -> None:
    """Raise `BackendError` unless the targets can train a sequence model."""
    n = len(targets)
    if n < minimum:
        raise BackendError(f"Training needs at least {minimum} labeled items; the project has {n}.")
    if not any(targets):
        raise BackendError(f"Training needs at least one marked span; none of the project's {n} final values "
                           f"has one.")
    problems = [p for p in (check_spans(spans) for spans in targets) if p]
    if problems:
        k = len(problems)
        raise BackendError(
            f"{k} of the {n} final values {'has' if k == 1 else 'have'} overlapping spans, which the built-in "
            f"sequence model cannot learn (it gives each word one tag); for example, {problems[0]}. Correct "
            f"{'it' if k == 1 else 'them'} (keep one span of each overlapping pair), then train again.")


def count_labels(targets: list[list[Span]]) -> dict[str, int]:
    """How many spans of each label the targets hold."""
    counts: dict[str, int] = {}
    for spans in targets:
        for s in spans:
            counts[s["label"]] = counts.get(s["label"], 0) + 1
    return dict(sorted(counts.items()))


def segment_tags(true: list[Span], predicted: list[Span]) -> tuple[list[str], list[str]]:
    """BIO tags of both span lists over the same segments of the text.

    The text is cut at every span's start and end; each piece lies wholly inside or outside each
    span, so tagging the pieces (instead of characters or words) keeps exact-match scoring: a
    predicted span equals a true one iff their B/I runs coincide. No text or tokenizer is needed.
    """
    cuts = sorted({0, *(s["start"] for s in true + predicted), *(s["end"] for s in true + predicted)})

    def tags(spans: list[Span]) -> list[str]:
        starts = {s["start"]: s for s in spans}
        out, current = [], None
        for c in cuts:
            if current is not None and c >= current["end"]:
                current = None
            if c in starts:
                current = starts[c]
                out.append(f"B-{current['label']}")
            else:
                out.append(f"I-{current['label']}" if current is not None else "O")
        return out

    return tags(true), tags(predicted)


def _keys(spans: list[Span]) -> list[tuple]:
    return sorted((s["start"], s["end"], s["label"]) for s in spans)


def evaluate(predicted: Predictions, targets: list[list[Span]]) -> dict:
    """Exact-match span precision, recall and F1 (micro, and per label), and item-level calibration."""
    y_true, y_pred, exact = [], [], []
    for k, true in enumerate(targets):
        guess = predicted.values[k]["spans"] if predicted.ok[k] else []
        t, p = segment_tags(true, guess)
        y_true.append(t)
        y_pred.append(p)
        exact.append(_keys(true) == _keys(guess))
    # No span on either side: nothing to score (seqeval would average an empty list).
    anything = any(true or predicted.values[k]["spans"] for k, true in enumerate(targets))
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0) if anything else {}
    micro = report.get("micro avg", {})
    per_class = {label: {"precision": round(float(r["precision"]), 4), "recall": round(float(r["recall"]), 4),
                         "f1": round(float(r["f1-score"]), 4), "support": int(r["support"])}
                 for label, r in sorted(report.items()) if not label.endswith(" avg")}
    confidence = np.asarray(predicted.confidence, dtype=float)
    correct = np.asarray(exact, dtype=float)
    return {
        "f1": round(float(micro.get("f1-score", 0.0)), 4),
        "precision": round(float(micro.get("precision", 0.0)), 4),
        "recall": round(float(micro.get("recall", 0.0)), 4),
        "per_class": per_class,
        # Items whose predicted spans are exactly the true ones: what an auto-accepted item needs.
        "exact_match": round(float(correct.mean()), 4) if len(correct) else 0.0,
        "ece": round(expected_calibration_error(confidence, correct), 4),
        "calibration": calibration_bins(confidence, correct),
        "spans": sum(len(t) for t in targets),
        "test_size": len(targets),
    }


LEARNERS = (Learner(task_type="spans", target=target, backend=lambda sample: SpansBackend, evaluate=evaluate,
                    check=check, count_labels=count_labels, deciding_metric="f1",
                    headline=("f1", "precision", "recall"), has_classes=False),)
