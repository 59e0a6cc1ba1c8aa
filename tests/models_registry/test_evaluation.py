"""Held-out metrics and values from probabilities: pure numpy, against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from models_registry.evaluation import expected_calibration_error, metrics, values_and_confidence


def test_expected_calibration_error_on_a_hand_computed_case():
    # Three bins of two items: (0.9, 1.0] conf .95 acc 1 -> gap .05; (0.8, 0.9] conf .85 acc .5 -> .35;
    # (0.5, 0.6] conf .55 acc .5 -> .05. Each bin weighs a third: (.05 + .35 + .05) / 3 = .15.
    confidence = [0.95, 0.95, 0.85, 0.85, 0.55, 0.55]
    correct = [1, 1, 1, 0, 1, 0]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.15)


def test_a_perfectly_calibrated_model_has_no_calibration_error():
    assert expected_calibration_error([0.75] * 4, [1, 1, 1, 0]) == pytest.approx(0.0)


def test_an_overconfident_model_has_the_gap_as_its_calibration_error():
    assert expected_calibration_error([0.99] * 10, [1] * 5 + [0] * 5) == pytest.approx(0.49)


def test_calibration_error_of_nothing_is_zero():
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_metrics_of_a_tiny_classification_case():
    classes = ["a", "b", "c"]
    probs = np.array([
        [0.85, 0.10, 0.05],  # a, right
        [0.25, 0.65, 0.10],  # b, wrong (a)
        [0.15, 0.75, 0.10],  # b, right
        [0.02, 0.03, 0.95],  # c, right
    ])
    m = metrics("classification", classes, probs, ["a", "a", "b", "c"])

    assert m["accuracy"] == 0.75
    # F1: a = 2 * 1 * .5 / 1.5, b = 2 * .5 * 1 / 1.5, c = 1.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-4)
    assert m["per_class"] == {
        "a": {"precision": 1.0, "recall": 0.5, "support": 2},
        "b": {"precision": 0.5, "recall": 1.0, "support": 1},
        "c": {"precision": 1.0, "recall": 1.0, "support": 1},
    }
    # One item per bin: gaps .15, .65, .25, .05.
    assert m["ece"] == pytest.approx((0.15 + 0.65 + 0.25 + 0.05) / 4, abs=1e-4)
    assert m["test_size"] == 4


def test_metrics_of_a_tiny_multi_label_case():
    classes = ["x", "y"]
    probs = np.array([[0.9, 0.2], [0.8, 0.3], [0.1, 0.1]])  # predicted: [x], [x], []
    m = metrics("multi_label", classes, probs, [["x"], ["x", "y"], []])

    assert m["accuracy"] == pytest.approx(2 / 3, abs=1e-4)  # exact match of the whole label set
    assert m["per_class"]["x"] == {"precision": 1.0, "recall": 1.0, "support": 2}
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx(0.5)
    assert set(m) >= {"accuracy", "macro_f1", "ece", "per_class"}


def test_classification_value_is_the_most_likely_class_and_confidence_its_probability():
    values, confidence = values_and_confidence("classification", ["pos", "neg"],
                                               np.array([[0.8, 0.2], [0.3, 0.7]]))
    assert values == [{"label": "pos"}, {"label": "neg"}]
    assert confidence.tolist() == pytest.approx([0.8, 0.7])


def test_multi_label_value_is_every_label_at_even_odds_or_above_and_confidence_the_least_sure_decision():
    values, confidence = values_and_confidence("multi_label", ["a", "b", "c"],
                                               np.array([[0.9, 0.2, 0.6], [0.05, 0.01, 0.1], [0.5, 0.99, 0.99]]))
    assert values == [{"labels": ["a", "c"]}, {"labels": []}, {"labels": ["a", "b", "c"]}]
    assert confidence.tolist() == pytest.approx([0.6, 0.9, 0.5])


def test_multi_label_without_labels_is_certain():
    values, confidence = values_and_confidence("multi_label", [], np.zeros((2, 0)))
    assert values == [{"labels": []}, {"labels": []}]
    assert confidence.tolist() == [1.0, 1.0]
