"""An item's life: the state each event leads to. Pure rules, no database.

`tasks.items` is the one place that writes these states; pre-labeling, import, consensus,
review and undo go through it.

    new ── predicted ─────────────────────▶ queued
    new | queued ── routed: model sure ───▶ auto_accepted (final: model)
                 ── routed: audit sample ─▶ in_review (audit; the model's value stands meanwhile)
                 ── routed: unsure ───────▶ queued
                 ── settled: agreed ──────▶ done (final: consensus)
                 ── settled: disputed ────▶ in_review (disagreement, or escalated)
                 ── settled: agreed, ratings spread ─▶ in_review (low_agreement)
    auto_accepted ── routed again ────────▶ as from queued (a newer model decides)
    in_review ── decided by a reviewer ───▶ done (final: reviewer)
    settled by annotators or the model ── an annotator's undo ──▶ new | queued
    settled by annotators, or disputed ── an annotation rejected or re-queued ──▶ new | queued
    (import) ──▶ any of these, from the labels the record brings (a prediction is routed by its band)
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.errors import Conflict
from tasks.routing import Band


class Status(StrEnum):
    NEW = "new"  # no prediction yet
    QUEUED = "queued"  # waiting for annotations
    AUTO_ACCEPTED = "auto_accepted"
    IN_REVIEW = "in_review"
    DONE = "done"


class Source(StrEnum):
    """Who set the final value."""

    GOLD = "gold"
    CONSENSUS = "consensus"
    REVIEWER = "reviewer"
    MODEL = "model"


class Reason(StrEnum):
    """Why an item is in review."""

    DISAGREEMENT = "disagreement"
    ESCALATED = "escalated"
    AUDIT = "audit"
    LOW_AGREEMENT = "low_agreement"


# Statuses whose items the labeling queue hands out.
LABELABLE = (Status.NEW, Status.QUEUED)
# Final values people gave (what training learns from and `retrain_every` counts).
HUMAN_SOURCES = (Source.GOLD, Source.CONSENSUS, Source.REVIEWER)


class IllegalTransition(Conflict):
    """The event does not apply to the item as it is now (409)."""


@dataclass(frozen=True)
class Life:
    """The columns of an item that its life decides; every event writes all of them."""

    status: Status
    final_value: Any = None
    final_source: str = ""
    final_at: datetime | None = None
    final_by_id: int | None = None
    review_reason: str = ""

    def columns(self) -> dict[str, Any]:
        return {"status": self.status, "final_value": self.final_value, "final_source": self.final_source,
                "final_at": self.final_at, "final_by_id": self.final_by_id, "review_reason": self.review_reason}

    @property
    def human_final(self) -> bool:
        return self.final_source in HUMAN_SOURCES


COLUMNS = tuple(f.name for f in fields(Life))


def waiting(*, predicted: bool) -> Life:
    """Waiting for annotations: `queued` once a model has scored it, else `new`."""
    return Life(Status.QUEUED if predicted else Status.NEW)


def final(value: Any, source: str, at: datetime, by: int | None = None) -> Life:
    """A final value: the model's is `auto_accepted`, a person's `done`; only a reviewer's names who."""
    return Life(Status.AUTO_ACCEPTED if source == Source.MODEL else Status.DONE, value, Source(source), at,
                by if source == Source.REVIEWER else None)


def _require(allowed: bool, status: str, event: str) -> None:
    if not allowed:
        raise IllegalTransition(f"An item that is {status} cannot be {event}.")


def routed(status: str, final_source: str, band: str, value: Any, at: datetime) -> Life:
    """After the model scored the item, by its routing band (`tasks.routing`)."""
    _require((status in LABELABLE and not final_source)
             or (status == Status.AUTO_ACCEPTED and final_source == Source.MODEL), status, "routed by a model")
    if band == Band.AUTO_ACCEPT:
        return final(value, Source.MODEL, at)
    if band == Band.AUDIT:
        return Life(Status.IN_REVIEW, value, Source.MODEL, at, None, Reason.AUDIT)
    return waiting(predicted=True)


def escalated(status: str, final_source: str) -> Life:
    """A waiting item goes to a reviewer without annotations (a live decision's deadline passed)."""
    _require(status in LABELABLE and not final_source, status, "escalated")
    return Life(Status.IN_REVIEW, review_reason=Reason.ESCALATED)


def settled(status: str, *, agreed: bool, value: Any, at: datetime, escalated: bool,
            low_agreement: bool = False) -> Life:
    """Once the item has its annotations: their consensus, or review.

    `low_agreement`: the main label agreed but a rubric rating spread too far (`tasks.questions`);
    a disputed main label is reviewed as a disagreement first.
    """
    _require(status in LABELABLE, status, "settled by its annotators")
    if agreed and low_agreement:
        return Life(Status.IN_REVIEW, review_reason=Reason.LOW_AGREEMENT)
    if agreed:
        return final(value, Source.CONSENSUS, at)
    return Life(Status.IN_REVIEW, review_reason=Reason.ESCALATED if escalated else Reason.DISAGREEMENT)


def decided(status: str, value: Any, at: datetime, by: int | None) -> Life:
    """A reviewer's decision is final."""
    _require(status == Status.IN_REVIEW, status, "decided by a reviewer")
    return final(value, Source.REVIEWER, at, by)


def after_undo(status: str, final_source: str, *, predicted: bool) -> Life | None:
    """An annotator took back an annotation: an item settled without a reviewer or gold waits again.

    None when the item stays as it is (still waiting, or decided by gold).
    """
    _require(final_source != Source.REVIEWER, status, "reopened: a reviewer decided it")
    if status in LABELABLE or final_source == Source.GOLD:
        return None
    return waiting(predicted=predicted)


def after_retired(status: str, final_source: str, *, predicted: bool) -> Life | None:
    """One of the item's annotations stopped counting (rejected for rework, or re-queued after its
    annotator was paused): an item its annotators settled, or sent to review as disputed, waits again
    for another annotation. None when it stays: still waiting, or decided by a reviewer, gold or the model.
    """
    if status in LABELABLE or final_source in (Source.REVIEWER, Source.GOLD, Source.MODEL):
        return None
    return waiting(predicted=predicted)


def gold(value: Any, at: datetime) -> Life:
    """A gold (honeypot) value: final, and what annotators are scored against."""
    return final(value, Source.GOLD, at)


def imported(*, predicted: bool, annotated: bool, gold_value: Any = None, gold_at: datetime | None = None,
             final_value: Any = None, final_source: str = "", final_at: datetime | None = None,
             final_by: int | None = None, agreed: bool | None = None, consensus_value: Any = None,
             band: str | None = None, predicted_value: Any = None, at: datetime) -> Life:
    """A new item from an import, by the labels its record brings, strongest first: gold, a final
    value, enough annotations (`agreed` is their consensus, None when there are too few), a
    prediction routed by its confidence (`band`, as `routed` takes a model's), a prediction or
    annotations (waiting), nothing (new)."""
    if gold_value is not None:
        return gold(gold_value, gold_at or at)
    if final_source:
        return final(final_value, final_source, final_at or at, final_by)
    if agreed is not None:
        return settled(Status.QUEUED, agreed=agreed, value=consensus_value, at=at, escalated=False)
    if band is not None:
        return routed(Status.NEW, "", band, predicted_value, at)
    return waiting(predicted=predicted or annotated)
