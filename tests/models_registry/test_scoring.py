"""Uncertainty scores that order the labeling queue: pure numpy, checked against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models_registry import scoring

# Two rows on which the strategies disagree: A has the lowest top probability, B the smallest margin.
A = [0.5, 0.25, 0.25]
B = [0.55, 0.45, 0.0]


def test_least_confidence_is_one_minus_the_top_probability():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0]])
    assert scoring.least_confidence(probs) == pytest.approx([0.3, 0.6, 0.0])


def test_margin_is_one_minus_the_gap_between_the_two_most_likely_classes():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.3, 0.6]])
    assert scoring.margin(probs) == pytest.approx([0.5, 0.95, 0.7])


def test_margin_of_a_single_class_is_zero():
    assert scoring.margin(np.array([[1.0], [0.3]])).tolist() == [0.0, 0.0]


def test_entropy_is_normalised_to_one_for_a_uniform_row_and_zero_for_a_certain_one():
    probs = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], A])
    expected_a = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    assert scoring.entropy(probs) == pytest.approx([1.0, 0.0, expected_a], abs=1e-9)


def test_entropy_of_two_classes_at_even_odds_is_one():
    assert scoring.entropy(np.array([[0.5, 0.5], [0.9, 0.1]])) == pytest.approx(
        [1.0, -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)])


@pytest.mark.parametrize("strategy, first", [("least_confidence", "A"), ("margin", "B"), ("entropy", "A")])
def test_each_strategy_puts_the_item_it_finds_most_uncertain_first(strategy, first):
    sure = [0.98, 0.01, 0.01]
    probs = np.array([sure, A, B])
    priority = scoring.priorities(strategy, probs)
    order = [["sure", "A", "B"][i] for i in np.argsort(-priority, kind="stable")]
    assert order[0] == first
    assert order[-1] == "sure"


def test_priorities_are_the_strategy_scores():
    probs = np.array([[0.7, 0.2, 0.1], A, B])
    assert scoring.priorities("least_confidence", probs) == pytest.approx(scoring.least_confidence(probs))
    assert scoring.priorities("margin", probs) == pytest.approx(scoring.margin(probs))
    assert scoring.priorities("entropy", probs) == pytest.approx(scoring.entropy(probs))


def test_sequential_gives_every_item_the_same_priority_so_import_order_decides():
    assert scoring.priorities("sequential", np.array([A, B, [1.0, 0.0, 0.0]])).tolist() == [0.0, 0.0, 0.0]


def test_random_gives_a_priority_in_the_unit_interval_per_item():
    priority = scoring.priorities("random", np.full((500, 2), 0.5))
    assert priority.shape == (500,)
    assert ((priority >= 0) & (priority < 1)).all()
    assert len(set(priority.tolist())) > 490


def test_random_is_reproducible_with_a_seeded_generator():
    probs = np.full((20, 2), 0.5)
    first = scoring.random(probs, np.random.default_rng(7))
    assert scoring.random(probs, np.random.default_rng(7)).tolist() == first.tolist()


def test_an_unknown_strategy_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown strategy 'smart'.*least_confidence"):
        scoring.priorities("smart", np.array([A]))


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_multi_label_items_are_as_uncertain_as_their_least_sure_yes_or_no(strategy):
    # Each column is its own yes/no probability: all-no and all-yes at 0.01/0.99 are certain,
    # one label at 0.5 is the most uncertain item of the three.
    probs = np.array([[0.01, 0.01, 0.01], [0.99, 0.99, 0.99], [0.5, 0.01, 0.99]])
    priority = scoring.priorities(strategy, probs, multi_label=True)
    assert priority[2] > priority[0]
    assert priority[2] > priority[1]
    assert priority[0] == pytest.approx(priority[1])
