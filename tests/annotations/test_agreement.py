"""Agreement and truth inference on hand-computed cases, without a database."""
from __future__ import annotations

import pytest

from annotations import agreement

FLIP = {"pos": "neg", "neg": "pos"}


def grid(rows: dict) -> list[agreement.Rating]:
    """{item: "abb"} -> ratings by annotators u0, u1, u2 in column order."""
    return [(item, f"u{k}", label) for item, labels in rows.items() for k, label in enumerate(labels)]


# Coincidences (pairs / (m-1)): o_aa = 3+1 = 4, o_bb = 3+1 = 4, o_ab = o_ba = 1+1 = 2; n = 12, n_a = n_b = 6.
# alpha = 1 - (n-1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 11 * 4 / 72 = 7/18.
THREE_BY_FOUR = grid({"i1": "aaa", "i2": "aab", "i3": "bbb", "i4": "abb"})


def test_krippendorff_alpha_matches_the_formula_on_three_annotators_and_four_items():
    assert agreement.krippendorff_alpha(THREE_BY_FOUR, ["a", "b"]) == pytest.approx(7 / 18)


def test_perfect_agreement_gives_alpha_one():
    assert agreement.krippendorff_alpha(grid({"i1": "aa", "i2": "bb"}), ["a", "b"]) == pytest.approx(1.0)


def test_alpha_is_undefined_without_overlap_or_without_variation():
    assert agreement.krippendorff_alpha([("i1", "u0", "a"), ("i2", "u1", "b")]) is None
    assert agreement.krippendorff_alpha(grid({"i1": "aa", "i2": "aa"})) is None


def test_cohen_kappa_matches_the_hand_computed_value():
    # p_o = 4/5; A says pos 3/5, B 2/5: p_e = .6*.4 + .4*.6 = .48; kappa = (.8-.48)/(1-.48) = 8/13.
    a, b = "ppnnp", "pnnnp"
    ratings = [(i, "A", a[i]) for i in range(5)] + [(i, "B", b[i]) for i in range(5)]
    [pair] = agreement.pairwise_kappa(ratings)
    assert pair.annotators == ("A", "B")
    assert pair.shared_items == 5
    assert pair.kappa == pytest.approx(8 / 13)


def test_kappa_skips_pairs_with_fewer_than_two_shared_items():
    ratings = [(1, "A", "p"), (1, "B", "n"), (2, "A", "p"), (2, "C", "p"), (3, "A", "n"), (3, "C", "n")]
    pairs = agreement.pairwise_kappa(ratings)
    assert [(p.annotators, p.shared_items) for p in pairs] == [(("A", "C"), 2)]
    assert pairs[0].kappa == pytest.approx(1.0)


def test_per_label_agreement_is_the_unanimous_share_of_items_where_the_label_was_chosen():
    # a chosen on i1, i2, i4 and unanimous on i1 only; b chosen on i2, i3, i4, unanimous on i3 only.
    assert agreement.per_label_agreement(THREE_BY_FOUR, ["a", "b", "c"]) == {
        "a": pytest.approx(1 / 3), "b": pytest.approx(1 / 3), "c": None}


def test_dawid_skene_sees_through_adversarial_annotators_where_majority_vote_ties():
    truth = ["pos", "neg"] * 6
    ratings = []
    for i, t in enumerate(truth):
        ratings += [(i, "h1", t), (i, "h2", t), (i, "x1", FLIP[t]), (i, "x2", FLIP[t])]
        if i < 6:  # a third honest annotator breaks the tie on half the items
            ratings.append((i, "h3", t))
    result = agreement.truth_inference(ratings)
    ds_correct = sum(result.dawid_skene[i] == t for i, t in enumerate(truth))
    mv_correct = sum(result.majority_vote[i] == t for i, t in enumerate(truth))
    assert ds_correct == 12
    assert mv_correct < ds_correct
    assert result.accuracy["x1"] < 0.1 and result.accuracy["x2"] < 0.1
    assert result.accuracy["h1"] > 0.9
    # x1 says neg when the truth is pos.
    assert result.confusion["x1"]["pos"]["neg"] > 0.9


def test_confusion_has_final_labels_as_rows_and_annotator_labels_as_columns():
    pairs = [("pos", "pos"), ("neg", "neg"), ("pos", "pos"), ("pos", "neg")]
    assert agreement.confusion(pairs, ["pos", "neg"]) == {"labels": ["pos", "neg"], "matrix": [[2, 0], [1, 1]]}


def test_confusion_keeps_labels_outside_the_project():
    assert agreement.confusion([("old", "pos")], ["pos"]) == {"labels": ["pos", "old"], "matrix": [[0, 1], [0, 0]]}


def test_empty_input_is_not_an_error():
    assert agreement.pairwise_kappa([]) == []
    assert agreement.per_label_agreement([], ["a"]) == {"a": None}
    result = agreement.truth_inference([])
    assert result.dawid_skene == {} and result.majority_vote == {}
