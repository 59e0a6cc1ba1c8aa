"""Structured predictions (boxes, spans): a value made of parts, each with the model's own score.

Pure functions, no ORM. An external model's answer and an imported prediction both come in as
parts with a `score`; what is stored is the value without scores (valid for `tasks.values`), the
scored parts (`{"boxes": [{..., "score"}]}`, kept as the prediction's `scores`) and the item's
confidence: its least sure part, so routing and the queue follow the weakest box.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.values import ValueShapeError, validate_value

# Task type -> the key of its parts in a value.
PARTS = {"boxes": "boxes", "spans": "spans"}
# The confidence of an external model's item with no part and no confidence of its own: below any
# sensible auto-accept threshold, so "nothing here" is never accepted unless the model says how sure it is.
EMPTY_CONFIDENCE = 0.5


def is_structured(task_type: str) -> bool:
    return task_type in PARTS


def is_probability(x: Any) -> bool:
    """A finite number in [0, 1] (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0.0 <= x <= 1.0


def probability(x: Any, field: str) -> float:
    """`x` as a probability, or `ValueShapeError` naming `field`."""
    if not is_probability(x):
        raise ValueShapeError(field, "must be a probability between 0 and 1")
    return float(x)


@dataclass(frozen=True)
class Scored:
    """A validated structured prediction."""

    value: dict  # the value without scores, as `tasks.values.validate_value` returns it
    parts: list[dict]  # the same parts, in the same order, each with its "score"

    @property
    def scores(self) -> dict:
        """What is kept with the prediction: `{"boxes": [{..., "score"}]}`."""
        return {next(iter(self.value)): self.parts}

    def confidence(self, given: float | None = None, empty: float | None = EMPTY_CONFIDENCE) -> float | None:
        """The least sure part, or `given` (the model's certainty it missed nothing) if that is lower;
        `given`, else `empty`, for an item without parts."""
        candidates = [p["score"] for p in self.parts] + ([given] if given is not None else [])
        return min(candidates) if candidates else empty


def scored_parts(task_type: str, labels: Sequence[str], parts: Any, scores: Sequence[float], data: Mapping | None,
                 field: str) -> Scored:
    """Validate `parts` (the raw list, e.g. boxes) as the value `{key: parts}` and pair each with its score.

    Errors name `field` and the part, e.g. "predictions[2].boxes[0].w".
    """
    key = PARTS[task_type]
    value = validate_value(task_type, labels, {key: parts}, data, field=field)
    if len(scores) != len(parts):
        raise ValueShapeError(f"{field}.{key}", f"has {len(parts)} parts but {len(scores)} scores")
    if key == "spans":  # `validate_value` sorts spans: sort their scores the same way
        order = sorted(range(len(parts)), key=lambda j: (parts[j]["start"], parts[j]["end"], str(parts[j]["label"])))
        scores = [scores[j] for j in order]
    # Boxes keep their order, so the j-th score stays with the j-th box.
    return Scored(value=value, parts=[p | {"score": round(float(s), 6)} for p, s in zip(value[key], scores)])


def with_own_scores(task_type: str, labels: Sequence[str], parts: Any, data: Mapping | None, field: str) -> Scored:
    """Parts that each carry a "score" (an external model's answer): every one must have a probability."""
    key = PARTS[task_type]
    validate_value(task_type, labels, {key: parts}, data, field=field)  # the shape first: errors in part order
    scores = []
    for j, part in enumerate(parts):
        where = f"{field}.{key}[{j}].score"
        if "score" not in part:
            raise ValueShapeError(where, "is required")
        scores.append(probability(part["score"], where))
    return scored_parts(task_type, labels, parts, scores, data, field)
