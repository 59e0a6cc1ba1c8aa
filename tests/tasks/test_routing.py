"""Routing: from a model's confidence to a band and the annotations an item needs. Pure, no database."""
from __future__ import annotations

import numpy as np
import pytest

from tasks import routing
from tasks.models import Project
from tasks.routing import Band, Thresholds


def thresholds(accept=0.9, escalate=0.5, audit_rate=0.0, overlap=1, escalated_overlap=3) -> Thresholds:
    return Thresholds(accept, escalate, audit_rate, overlap, escalated_overlap)


def test_bands_at_above_and_below_the_thresholds():
    confidence = [1.0, 0.95, 0.9, 0.8999, 0.5, 0.4999, 0.0]
    assert routing.bands(confidence, thresholds()).tolist() == [
        Band.AUTO_ACCEPT, Band.AUTO_ACCEPT, Band.AUTO_ACCEPT,  # at the auto-accept threshold counts as sure
        Band.NORMAL, Band.NORMAL,  # at the escalation threshold is not below it
        Band.ESCALATE, Band.ESCALATE,
    ]


def test_without_thresholds_every_item_is_normal():
    assert routing.bands([0.0, 0.5, 1.0], thresholds(None, None, audit_rate=0.5)).tolist() == [Band.NORMAL] * 3


def test_without_an_auto_accept_threshold_nothing_is_accepted():
    assert routing.bands([0.2, 0.7, 1.0], thresholds(accept=None)).tolist() == [
        Band.ESCALATE, Band.NORMAL, Band.NORMAL]


def test_without_an_escalation_threshold_nothing_is_escalated():
    assert routing.bands([0.0, 0.7, 0.95], thresholds(escalate=None)).tolist() == [
        Band.NORMAL, Band.NORMAL, Band.AUTO_ACCEPT]


def test_an_audit_rate_share_of_accepted_items_goes_to_audit():
    confidence = np.r_[np.full(10_000, 0.99), np.full(2_000, 0.7), np.full(2_000, 0.1)]
    band = routing.bands(confidence, thresholds(audit_rate=0.1), np.random.default_rng(1))
    accepted = band[:10_000]
    assert 0.08 < (accepted == Band.AUDIT).mean() < 0.12
    assert set(accepted) == {Band.AUTO_ACCEPT, Band.AUDIT}
    # Only accepted items are audited.
    assert set(band[10_000:12_000]) == {Band.NORMAL}
    assert set(band[12_000:]) == {Band.ESCALATE}


def test_the_audit_sample_is_reproducible_with_a_seeded_generator():
    confidence = np.full(1000, 0.99)
    first = routing.bands(confidence, thresholds(audit_rate=0.2), np.random.default_rng(42))
    again = routing.bands(confidence, thresholds(audit_rate=0.2), np.random.default_rng(42))
    assert first.tolist() == again.tolist()


def test_an_audit_rate_of_zero_audits_nothing_and_one_audits_everything_accepted():
    confidence = [0.99, 0.95, 0.3]
    assert Band.AUDIT not in routing.bands(confidence, thresholds(audit_rate=0.0)).tolist()
    assert routing.bands(confidence, thresholds(audit_rate=1.0)).tolist() == [Band.AUDIT, Band.AUDIT,
                                                                              Band.ESCALATE]


def test_needed_is_the_escalated_overlap_for_escalated_items_and_the_overlap_otherwise():
    t = thresholds(overlap=2, escalated_overlap=5)
    assert routing.needed(Band.ESCALATE, t) == 5
    assert routing.needed(Band.NORMAL, t) == 2
    assert routing.needed(Band.AUTO_ACCEPT, t) == 2
    assert routing.needed("escalate", t) == 5


def test_band_counts_match_the_bands_and_add_up():
    confidence = np.array([1.0, 0.95, 0.9, 0.8, 0.6, 0.5, 0.4, 0.1, 0.0, 0.92])
    t = thresholds(audit_rate=0.25)
    counts = routing.band_counts(confidence, t)
    band = routing.bands(confidence, thresholds(audit_rate=0.0))
    assert counts == {
        "auto_accepted": int((band == Band.AUTO_ACCEPT).sum()),
        "audit_expected": 1,  # round(4 * 0.25)
        "escalated": int((band == Band.ESCALATE).sum()),
        "normal": int((band == Band.NORMAL).sum()),
    }
    assert counts == {"auto_accepted": 4, "audit_expected": 1, "escalated": 3, "normal": 3}
    assert counts["auto_accepted"] + counts["escalated"] + counts["normal"] == len(confidence)


def test_band_counts_without_thresholds_are_all_normal():
    assert routing.band_counts(np.array([0.1, 0.99]), thresholds(None, None, audit_rate=0.5)) == {
        "auto_accepted": 0, "audit_expected": 0, "escalated": 0, "normal": 2}


def test_band_counts_of_no_predictions_are_zero():
    assert routing.band_counts(np.array([]), thresholds()) == {
        "auto_accepted": 0, "audit_expected": 0, "escalated": 0, "normal": 0}


@pytest.mark.parametrize("escalated_overlap, expected", [(None, 3), (4, 4)])
def test_thresholds_of_a_project_default_the_escalated_overlap_to_overlap_plus_one(escalated_overlap, expected):
    project = Project(overlap=2, escalated_overlap=escalated_overlap, auto_accept_threshold=0.9,
                      escalation_threshold=0.4, audit_rate=0.1)
    assert Thresholds.of(project) == Thresholds(0.9, 0.4, 0.1, 2, expected)


def test_audit_draws_are_fixed_by_item_and_salt_and_spread_evenly():
    ids = np.arange(1, 20_001)
    draws = routing.audit_draws(ids, salt=11)
    assert routing.audit_draws(ids, salt=11).tolist() == draws.tolist()
    assert ((draws >= 0) & (draws < 1)).all()
    assert abs(draws.mean() - 0.5) < 0.02
    assert 0.045 < (draws < 0.05).mean() < 0.055
    # Another salt (another model version) draws another sample.
    other = routing.audit_draws(ids, salt=12)
    assert 0.0 < ((draws < 0.05) & (other < 0.05)).mean() < 0.005


def test_an_item_keeps_its_audit_decision_whatever_else_is_routed_with_it():
    ids = np.arange(100, 400)
    t = thresholds(audit_rate=0.3)
    everything = routing.bands(np.full(300, 0.99), t, draws=routing.audit_draws(ids, salt=4))
    # Later, only the items that were not audited are routed again.
    kept = everything == Band.AUTO_ACCEPT
    again = routing.bands(np.full(kept.sum(), 0.99), t, draws=routing.audit_draws(ids[kept], salt=4))
    assert set(again) == {Band.AUTO_ACCEPT}
    assert 60 < (everything == Band.AUDIT).sum() < 120
