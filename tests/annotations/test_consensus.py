"""Consensus rules per task type: annotators' values to a final value or a disagreement. No database."""
from __future__ import annotations

import pytest

from annotations.consensus import Outcome, agrees, box_iou, decide, span_iou


def cls(*labels):
    return [{"label": label} for label in labels]


def span(start, end, label="PER"):
    return {"start": start, "end": end, "label": label}


def box(x, y, w, h, label="car"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


# --- classification -----------------------------------------------------------------------------

def test_classification_takes_the_strict_majority_label():
    assert decide("classification", cls("pos", "neg", "pos")) == Outcome(True, {"label": "pos"})


def test_classification_with_a_single_annotation_agrees_with_itself():
    assert decide("classification", cls("neg")) == Outcome(True, {"label": "neg"})


@pytest.mark.parametrize("labels", [("pos", "neg"), ("a", "b", "c"), ("a", "a", "b", "b"), ("a", "a", "b", "c", "d")])
def test_classification_without_a_strict_majority_is_a_disagreement(labels):
    assert decide("classification", cls(*labels)) == Outcome(False, None)


def test_no_values_is_a_disagreement():
    assert decide("classification", []) == Outcome(False, None)


def test_an_unknown_task_type_is_an_error():
    with pytest.raises(ValueError):
        decide("video", cls("a"))


# --- multi_label --------------------------------------------------------------------------------

def test_multi_label_keeps_the_labels_more_than_half_include():
    values = [{"labels": ["a", "b"]}, {"labels": ["b", "a", "c"]}, {"labels": ["a"]}]
    assert decide("multi_label", values) == Outcome(True, {"labels": ["a", "b"]})


def test_multi_label_agrees_on_an_empty_set():
    values = [{"labels": []}, {"labels": []}, {"labels": ["c"]}]
    assert decide("multi_label", values) == Outcome(True, {"labels": []})


def test_multi_label_with_a_label_chosen_by_exactly_half_is_a_disagreement():
    assert decide("multi_label", [{"labels": ["a", "b"]}, {"labels": ["a"]}]) == Outcome(False, None)


def test_multi_label_ignores_label_order():
    assert decide("multi_label", [{"labels": ["a", "b"]}, {"labels": ["b", "a"]}]).agreed


# --- pairwise -----------------------------------------------------------------------------------

def test_pairwise_takes_the_majority_choice():
    values = [{"choice": "a"}, {"choice": "tie"}, {"choice": "a"}]
    assert decide("pairwise", values) == Outcome(True, {"choice": "a"})


def test_pairwise_split_is_a_disagreement():
    assert decide("pairwise", [{"choice": "a"}, {"choice": "b"}]) == Outcome(False, None)


# --- overlap ------------------------------------------------------------------------------------

def test_span_iou_by_hand():
    assert span_iou(span(0, 10), span(5, 15)) == pytest.approx(5 / 15)
    assert span_iou(span(0, 10), span(0, 10)) == 1.0
    assert span_iou(span(0, 5), span(5, 10)) == 0.0  # end is exclusive: touching is no overlap


def test_box_iou_by_hand():
    assert box_iou(box(0, 0, 10, 10), box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou(box(0, 0, 10, 10), box(10, 0, 10, 10)) == 0.0
    assert box_iou(box(0, 0, 10, 10), box(2, 2, 5, 5)) == pytest.approx(25 / 100)


# --- spans --------------------------------------------------------------------------------------

def test_spans_matched_by_a_majority_keep_the_most_common_offsets_in_text_order():
    values = [
        {"spans": [span(10, 15, "LOC"), span(0, 4)]},
        {"spans": [span(0, 4), span(10, 16, "LOC")]},
        {"spans": [span(0, 5), span(10, 15, "LOC")]},
    ]
    assert decide("spans", values) == Outcome(True, {"spans": [span(0, 4), span(10, 15, "LOC")]})


def test_spans_at_exactly_the_iou_threshold_match():
    values = [{"spans": [span(0, 10)]}, {"spans": [span(0, 5)]}]  # IoU 0.5
    assert decide("spans", values, iou=0.5).agreed
    assert not decide("spans", values, iou=0.51).agreed


def test_spans_just_below_the_iou_threshold_do_not_match():
    values = [{"spans": [span(0, 10)]}, {"spans": [span(0, 4)]}]  # IoU 0.4
    assert decide("spans", values, iou=0.5) == Outcome(False, None)
    assert decide("spans", values, iou=0.4).agreed


def test_overlapping_spans_with_different_labels_do_not_match():
    values = [{"spans": [span(0, 10, "PER")]}, {"spans": [span(0, 10, "LOC")]}]
    assert decide("spans", values) == Outcome(False, None)


def test_a_span_only_a_minority_marked_is_a_disagreement():
    values = [{"spans": [span(0, 4)]}, {"spans": [span(0, 4), span(8, 12)]}, {"spans": [span(0, 4)]}]
    assert decide("spans", values) == Outcome(False, None)


def test_no_spans_from_anyone_agrees_on_none():
    assert decide("spans", [{"spans": []}, {"spans": []}]) == Outcome(True, {"spans": []})


def test_one_annotator_cannot_make_a_majority_with_two_spans_of_their_own():
    # Two overlapping spans by one annotator are two regions, not a match with each other.
    values = [{"spans": [span(0, 10), span(1, 10)]}, {"spans": []}, {"spans": []}]
    assert decide("spans", values) == Outcome(False, None)


def test_with_a_threshold_of_zero_any_overlap_matches_but_disjoint_spans_do_not():
    assert decide("spans", [{"spans": [span(0, 2)]}, {"spans": [span(1, 60)]}], iou=0.0).agreed
    assert not decide("spans", [{"spans": [span(0, 2)]}, {"spans": [span(50, 60)]}], iou=0.0).agreed


# --- boxes --------------------------------------------------------------------------------------

def test_boxes_matched_by_a_majority_take_the_mean_coordinates():
    values = [
        {"boxes": [box(10, 10, 100, 50)]},
        {"boxes": [box(12, 11, 98, 52)]},
        {"boxes": [box(11, 9, 99, 51)]},
    ]
    assert decide("boxes", values) == Outcome(True, {"boxes": [box(11, 10, 99, 51)]})


def test_box_means_are_rounded_to_two_decimals():
    values = [{"boxes": [box(0, 0, 10, 10)]}, {"boxes": [box(1, 0, 10, 10)]}, {"boxes": [box(1, 0, 10, 10)]}]
    assert decide("boxes", values).value == {"boxes": [box(0.67, 0, 10, 10)]}


def test_boxes_at_exactly_the_iou_threshold_match():
    values = [{"boxes": [box(0, 0, 10, 10)]}, {"boxes": [box(0, 0, 10, 5)]}]  # IoU 50/100
    assert decide("boxes", values, iou=0.5).agreed
    assert not decide("boxes", values, iou=0.6).agreed


def test_a_box_without_a_majority_match_is_a_disagreement_even_if_others_agree():
    values = [
        {"boxes": [box(0, 0, 10, 10), box(100, 100, 10, 10, "person")]},
        {"boxes": [box(0, 0, 10, 10)]},
        {"boxes": [box(1, 1, 10, 10)]},
    ]
    assert decide("boxes", values) == Outcome(False, None)


def test_a_box_two_of_three_annotators_drew_is_kept():
    values = [
        {"boxes": [box(0, 0, 10, 10), box(50, 50, 20, 20, "person")]},
        {"boxes": [box(0, 0, 10, 10), box(51, 50, 20, 20, "person")]},
        {"boxes": [box(0, 0, 10, 10)]},
    ]
    assert decide("boxes", values).value == {"boxes": [box(0, 0, 10, 10), box(50.5, 50, 20, 20, "person")]}


def test_a_box_must_overlap_every_member_of_a_region_so_shifts_do_not_chain():
    # B overlaps A and C enough, but A and C do not overlap each other enough: no chain.
    a, b, c = box(0, 0, 10, 10), box(3, 0, 10, 10), box(6, 0, 10, 10)
    assert box_iou(a, b) >= 0.5 and box_iou(b, c) >= 0.5 and box_iou(a, c) < 0.5
    outcome = decide("boxes", [{"boxes": [a]}, {"boxes": [c]}, {"boxes": [b]}])
    assert not outcome.agreed


# --- agrees (corrections) -----------------------------------------------------------------------

def test_agrees_compares_one_value_with_a_final_value_by_the_rule():
    assert agrees("classification", {"label": "a"}, {"label": "a"})
    assert not agrees("classification", {"label": "a"}, {"label": "b"})
    assert agrees("multi_label", {"labels": ["b", "a"]}, {"labels": ["a", "b"]})
    assert not agrees("multi_label", {"labels": ["a"]}, {"labels": ["a", "b"]})
    assert agrees("boxes", {"boxes": [box(0, 0, 10, 10)]}, {"boxes": [box(1, 0, 10, 10)]})
    assert not agrees("spans", {"spans": [span(0, 3)]}, {"spans": [span(0, 10)]})
