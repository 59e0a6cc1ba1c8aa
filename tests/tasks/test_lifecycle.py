"""An item's life: the pure rules (`tasks.lifecycle`) and their one writer (`tasks.items`)."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks import lifecycle
from tasks.lifecycle import IllegalTransition, Reason, Source, Status
from tasks.routing import Band

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def test_an_item_waits_as_new_until_a_model_scores_it_then_queued():
    assert lifecycle.waiting(predicted=False).status == Status.NEW
    assert lifecycle.waiting(predicted=True).status == Status.QUEUED


@pytest.mark.parametrize("band, status, source, reason", [
    (Band.AUTO_ACCEPT, Status.AUTO_ACCEPTED, Source.MODEL, ""),
    (Band.AUDIT, Status.IN_REVIEW, Source.MODEL, Reason.AUDIT),
    (Band.NORMAL, Status.QUEUED, "", ""),
    (Band.ESCALATE, Status.QUEUED, "", ""),
])
def test_a_scored_item_goes_where_its_band_sends_it(band, status, source, reason):
    life = lifecycle.routed(Status.NEW, "", band, {"label": "a"}, NOW)
    assert (life.status, life.final_source, life.review_reason) == (status, source, reason)
    assert life.final_value == ({"label": "a"} if source else None)


def test_a_newer_model_may_take_back_what_an_older_one_accepted_but_never_a_persons_label():
    assert lifecycle.routed(Status.AUTO_ACCEPTED, Source.MODEL, Band.NORMAL, "x", NOW).status == Status.QUEUED
    for status, source in [(Status.DONE, Source.CONSENSUS), (Status.DONE, Source.GOLD),
                           (Status.IN_REVIEW, ""), (Status.DONE, Source.REVIEWER)]:
        with pytest.raises(IllegalTransition):
            lifecycle.routed(status, source, Band.AUTO_ACCEPT, "x", NOW)


def test_annotators_who_agree_settle_the_item_and_a_dispute_goes_to_review():
    agreed = lifecycle.settled(Status.QUEUED, agreed=True, value="a", at=NOW, escalated=False)
    assert (agreed.status, agreed.final_source, agreed.final_value, agreed.human_final) == (
        Status.DONE, Source.CONSENSUS, "a", True)
    disputed = lifecycle.settled(Status.NEW, agreed=False, value=None, at=NOW, escalated=False)
    assert (disputed.status, disputed.review_reason, disputed.final_value) == (
        Status.IN_REVIEW, Reason.DISAGREEMENT, None)
    escalated = lifecycle.settled(Status.QUEUED, agreed=False, value=None, at=NOW, escalated=True)
    assert escalated.review_reason == Reason.ESCALATED
    with pytest.raises(IllegalTransition):
        lifecycle.settled(Status.DONE, agreed=True, value="a", at=NOW, escalated=False)


def test_only_an_item_in_review_is_decided_by_a_reviewer_who_is_named():
    life = lifecycle.decided(Status.IN_REVIEW, "b", NOW, 7)
    assert (life.status, life.final_source, life.final_by_id, life.review_reason) == (
        Status.DONE, Source.REVIEWER, 7, "")
    for status in (Status.NEW, Status.QUEUED, Status.DONE, Status.AUTO_ACCEPTED):
        with pytest.raises(IllegalTransition):
            lifecycle.decided(status, "b", NOW, 7)


def test_an_undo_reopens_what_annotators_or_the_model_settled_but_not_gold_or_a_reviewers_decision():
    assert lifecycle.after_undo(Status.DONE, Source.CONSENSUS, predicted=True) == lifecycle.Life(Status.QUEUED)
    assert lifecycle.after_undo(Status.IN_REVIEW, "", predicted=False) == lifecycle.Life(Status.NEW)
    assert lifecycle.after_undo(Status.QUEUED, "", predicted=True) is None
    assert lifecycle.after_undo(Status.DONE, Source.GOLD, predicted=False) is None
    with pytest.raises(IllegalTransition):
        lifecycle.after_undo(Status.DONE, Source.REVIEWER, predicted=False)


def test_a_retired_annotation_reopens_what_its_annotators_settled_or_disputed_and_nothing_else():
    assert lifecycle.after_retired(Status.DONE, Source.CONSENSUS, predicted=True) == lifecycle.Life(Status.QUEUED)
    assert lifecycle.after_retired(Status.IN_REVIEW, "", predicted=False) == lifecycle.Life(Status.NEW)
    assert lifecycle.after_retired(Status.QUEUED, "", predicted=True) is None
    for source in (Source.REVIEWER, Source.GOLD, Source.MODEL):
        assert lifecycle.after_retired(Status.DONE, source, predicted=False) is None
    assert lifecycle.after_retired(Status.IN_REVIEW, Source.MODEL, predicted=True) is None  # an audit sample


def test_a_waiting_item_is_escalated_to_review_and_nothing_else_is():
    assert lifecycle.escalated(Status.QUEUED, "") == lifecycle.Life(Status.IN_REVIEW, review_reason="escalated")
    assert lifecycle.escalated(Status.NEW, "").status == Status.IN_REVIEW
    settled = ((Status.DONE, Source.CONSENSUS), (Status.IN_REVIEW, ""), (Status.AUTO_ACCEPTED, Source.MODEL))
    for status, source in settled:
        with pytest.raises(IllegalTransition):
            lifecycle.escalated(status, source)


def test_an_imported_item_takes_the_strongest_label_it_brings():
    def imported(**kw):
        return lifecycle.imported(**{"predicted": False, "annotated": False, "at": NOW, **kw})

    assert imported().status == Status.NEW
    assert imported(predicted=True).status == Status.QUEUED
    assert imported(annotated=True).status == Status.QUEUED
    gold = imported(gold_value="g", final_value="f", final_source=Source.REVIEWER)
    assert (gold.status, gold.final_source, gold.final_value) == (Status.DONE, Source.GOLD, "g")
    model = imported(final_value="m", final_source=Source.MODEL, final_by=3)
    assert (model.status, model.final_by_id) == (Status.AUTO_ACCEPTED, None)
    reviewer = imported(final_value="r", final_source=Source.REVIEWER, final_by=3)
    assert (reviewer.status, reviewer.final_by_id) == (Status.DONE, 3)
    assert imported(agreed=True, consensus_value="c").final_source == Source.CONSENSUS
    assert imported(agreed=False).review_reason == Reason.DISAGREEMENT


def test_an_imported_prediction_is_routed_by_its_band_unless_a_stronger_label_came_with_it():
    def imported(**kw):
        return lifecycle.imported(**{"predicted": True, "annotated": False, "at": NOW, **kw})

    accepted = imported(band=Band.AUTO_ACCEPT, predicted_value="p")
    assert (accepted.status, accepted.final_source, accepted.final_value) == (Status.AUTO_ACCEPTED, Source.MODEL, "p")
    assert imported(band=Band.AUDIT, predicted_value="p").review_reason == Reason.AUDIT
    assert imported(band=Band.ESCALATE, predicted_value="p") == lifecycle.Life(Status.QUEUED)
    assert imported(band=Band.AUTO_ACCEPT, predicted_value="p", gold_value="g").final_source == Source.GOLD
    assert imported(band=Band.AUTO_ACCEPT, predicted_value="p", agreed=True,
                    consensus_value="c").final_source == Source.CONSENSUS


# Where an item's life columns may be assigned: the lifecycle's one writer, and nowhere else.
_WRITES = re.compile(r"""(\.status\s*=[^=] | ["']status["']\s*:\s*(ItemStatus|Status|lifecycle)
                         | status=(ItemStatus|Status)\. | SET\s+status | \.final_source\s*=[^=])""", re.VERBOSE)
_APPS = ["accounts", "annotations", "audit", "common", "dataio", "models_registry", "ops", "pages", "tasks"]


def test_only_tasks_items_writes_an_items_status():
    offenders = []
    for app in _APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "tasks" / "items.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _WRITES.search(line) and ".filter(" not in line and ".exclude(" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
