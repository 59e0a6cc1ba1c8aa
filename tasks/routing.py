"""From a model's confidence to where an item goes. Pure logic, no ORM.

Bands, by the project's thresholds:
- confidence >= auto_accept_threshold: accepted without a human (final source "model"); a
  random `audit_rate` share of those still goes to a reviewer as an audit sample;
- confidence < escalation_threshold: needs `escalated_overlap` annotations;
- otherwise: needs `overlap` annotations.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Band(StrEnum):
    AUTO_ACCEPT = "auto_accept"
    AUDIT = "audit"
    NORMAL = "normal"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Thresholds:
    auto_accept: float | None
    escalation: float | None
    audit_rate: float
    overlap: int
    escalated_overlap: int

    @classmethod
    def of(cls, project) -> Thresholds:
        return cls(project.auto_accept_threshold, project.escalation_threshold, project.audit_rate,
                   project.overlap, project.effective_escalated_overlap)


def audit_draws(item_ids, salt: int = 0) -> np.ndarray:
    """A number in [0, 1) per item, fixed by its id and `salt` (splitmix64 of the two).

    Routing an item again with the same model (the same salt) makes the same audit decision, so
    re-running pre-labeling does not send a further share of the accepted items to review.
    """
    x = np.asarray(item_ids, dtype=np.uint64) ^ np.full(len(item_ids), salt & (2**64 - 1), dtype=np.uint64)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = (x ^ (x >> np.uint64(shift))) * np.uint64(factor)  # wraps modulo 2**64, as intended
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def bands(confidence: np.ndarray, t: Thresholds, rng: np.random.Generator | None = None,
          draws: np.ndarray | None = None) -> np.ndarray:
    """The band of each item, as an array of `Band` values.

    An accepted item is audited when its draw is below `audit_rate`: `draws` (see `audit_draws`)
    if given, else fresh numbers from `rng`.
    """
    confidence = np.asarray(confidence, dtype=float)
    out = np.full(len(confidence), Band.NORMAL.value, dtype=object)
    if t.escalation is not None:
        out[confidence < t.escalation] = Band.ESCALATE.value
    if t.auto_accept is not None:
        accepted = confidence >= t.auto_accept
        out[accepted] = Band.AUTO_ACCEPT.value
        if t.audit_rate > 0:
            draw = draws if draws is not None else (rng or np.random.default_rng()).random(len(confidence))
            out[accepted & (draw < t.audit_rate)] = Band.AUDIT.value
    return out


def needed(band: str, t: Thresholds) -> int:
    """Annotations an item of this band needs."""
    return t.escalated_overlap if band == Band.ESCALATE else t.overlap


def band_counts(confidence: np.ndarray, t: Thresholds) -> dict[str, int]:
    """How many items each band would hold (auto-accepted includes the expected audit share)."""
    confidence = np.asarray(confidence, dtype=float)
    accepted = int((confidence >= t.auto_accept).sum()) if t.auto_accept is not None else 0
    escalated = int((confidence < t.escalation).sum()) if t.escalation is not None else 0
    if t.auto_accept is not None and t.escalation is not None:
        escalated = int(((confidence < t.escalation) & (confidence < t.auto_accept)).sum())
    return {
        "auto_accepted": accepted,
        "audit_expected": round(accepted * t.audit_rate),
        "escalated": escalated,
        "normal": len(confidence) - accepted - escalated,
    }
