"""Ranking consensus: Borda count (ties share points) and Kendall's W (tie-corrected), by hand. No database."""
from __future__ import annotations

import pytest

from annotations.consensus import Outcome, agrees, borda, consensus_ranking, decide, kendalls_w, midranks

# Three annotators rank four responses strictly.
#            A  B  C  D   (ranks)
#   R1:      1  2  3  4
#   R2:      1  3  2  4
#   R3:      2  1  3  4
#   sums:    4  6  8 12   mean m(n+1)/2 = 7.5; S = 3.5² + 1.5² + 0.5² + 4.5² = 35
#   W = 12·35 / (3²·(4³ - 4)) = 420 / 540 = 7/9
#   Borda (n - rank): A 3+3+2 = 8, B 2+1+3 = 6, C 1+2+1 = 4, D 0
STRICT = [
    [["A"], ["B"], ["C"], ["D"]],
    [["A"], ["C"], ["B"], ["D"]],
    [["B"], ["A"], ["C"], ["D"]],
]
# Two annotators with ties.
#            A    B    C    D
#   R1:      1    2.5  2.5  4     T1 = 2³ - 2 = 6
#   R2:      1.5  1.5  3    4     T2 = 6
#   sums:    2.5  4    5.5  8     mean 5; S = 2.5² + 1² + 0.5² + 3² = 16.5
#   W = 12·16.5 / (2²·60 - 2·12) = 198 / 216 = 11/12
#   Borda: A 3 + 2.5 = 5.5, B 1.5 + 2.5 = 4, C 1.5 + 1 = 2.5, D 0
TIED = [
    [["A"], ["B", "C"], ["D"]],
    [["A", "B"], ["C"], ["D"]],
]


def test_tied_responses_share_the_mean_of_their_positions():
    assert midranks([["A"], ["B", "C", "D"], ["E"]]) == {"A": 1, "B": 3, "C": 3, "D": 3, "E": 5}


def test_borda_count_of_strict_rankings():
    assert borda(STRICT) == {"A": 8, "B": 6, "C": 4, "D": 0}


def test_borda_count_shares_points_among_ties():
    assert borda(TIED) == {"A": 5.5, "B": 4, "C": 2.5, "D": 0}


def test_kendalls_w_of_strict_rankings():
    assert kendalls_w(STRICT) == pytest.approx(7 / 9)


def test_kendalls_w_is_corrected_for_ties():
    assert kendalls_w(TIED) == pytest.approx(11 / 12)


def test_kendalls_w_is_one_for_identical_rankings_and_zero_for_opposite_ones():
    assert kendalls_w([[["A"], ["B", "C"]]] * 3) == pytest.approx(1.0)
    assert kendalls_w([[["A"], ["B"], ["C"]], [["C"], ["B"], ["A"]]]) == pytest.approx(0.0)
    assert kendalls_w([[["A", "B", "C"]], [["A", "B", "C"]]]) == 1.0  # nothing to disagree on


def test_equal_borda_counts_make_a_tie_in_the_consensus():
    # A: 3 + 2 and B: 2 + 3 tie at 5; C: 1 + 0 and D: 0 + 1 tie at 1.
    assert consensus_ranking([[["A"], ["B"], ["C"], ["D"]], [["B"], ["A"], ["D"], ["C"]]]) == \
        [["A", "B"], ["C", "D"]]
    # Opposite rankings tie everything.
    assert consensus_ranking([[["A"], ["B"], ["C"]], [["C"], ["B"], ["A"]]]) == [["A", "B", "C"]]


def test_ranking_agrees_when_w_reaches_the_threshold():
    assert decide("ranking", [{"ranking": r} for r in STRICT], 0.5) == \
        Outcome(True, {"ranking": [["A"], ["B"], ["C"], ["D"]]})
    assert decide("ranking", [{"ranking": r} for r in TIED], 11 / 12) == \
        Outcome(True, {"ranking": [["A"], ["B"], ["C"], ["D"]]})


def test_ranking_disagrees_below_the_threshold():
    assert decide("ranking", [{"ranking": r} for r in STRICT], 0.8) == Outcome(False, None)
    opposite = [{"ranking": [["A"], ["B"], ["C"]]}, {"ranking": [["C"], ["B"], ["A"]]}]
    assert decide("ranking", opposite, 0.5) == Outcome(False, None)


def test_rankings_of_different_responses_disagree():
    assert decide("ranking", [{"ranking": [["A"], ["B"]]}, {"ranking": [["A"], ["C"]]}]) == Outcome(False, None)


def test_a_single_ranking_is_its_own_consensus():
    assert decide("ranking", [{"ranking": [["B"], ["A", "C"]]}], 0.9) == Outcome(True, {"ranking": [["B"], ["A", "C"]]})


def test_a_ranking_agrees_with_a_final_ranking_close_enough():
    final = {"ranking": [["A"], ["B"], ["C"], ["D"]]}
    assert agrees("ranking", {"ranking": [["A"], ["C"], ["B"], ["D"]]}, final, 0.5)
    assert not agrees("ranking", {"ranking": [["D"], ["C"], ["B"], ["A"]]}, final, 0.5)
