"""mAP@0.5 of box predictions by pycocotools (models_registry/evaluation_boxes.py); no database."""
from __future__ import annotations

import pytest

from models_registry.evaluation_boxes import box_metrics


def box(x, y, w, h, label="digit", score=None) -> dict:
    b = {"x": x, "y": y, "w": w, "h": h, "label": label}
    return b if score is None else b | {"score": score}


def test_boxes_that_match_the_truth_score_a_map_of_one():
    truth = [[box(0, 0, 10, 10)], [box(5, 5, 20, 20), box(40, 40, 10, 10)]]
    predicted = [[box(1, 0, 10, 10, score=0.9)], [box(5, 6, 20, 20, score=0.8), box(40, 40, 10, 11, score=0.7)]]

    m = box_metrics(["digit"], predicted, truth, [0.9, 0.7])

    assert (m["map50"], m["precision"], m["recall"], m["item_accuracy"]) == (1.0, 1.0, 1.0, 1.0)
    assert m["per_class"] == {"digit": {"ap": 1.0, "precision": 1.0, "recall": 1.0, "support": 3}}
    assert m["boxes"] == {"true": 3, "predicted": 3} and m["test_size"] == 2


def test_a_sure_false_box_ranked_first_costs_more_than_an_unsure_one():
    """COCO's AP averages precision over 101 recall points, with detections in score order."""
    truth = [[box(0, 0, 10, 10)], [box(0, 0, 10, 10)]]
    wrong_first = [[box(0, 0, 10, 10, score=0.6)], [box(50, 50, 10, 10, score=0.9)]]
    wrong_last = [[box(0, 0, 10, 10, score=0.9)], [box(50, 50, 10, 10, score=0.6)]]

    first = box_metrics(["digit"], wrong_first, truth)
    last = box_metrics(["digit"], wrong_last, truth)

    # One of two true boxes found: recall 0.5 at precision 1 (found first) or 0.5 (found second).
    assert last["map50"] == pytest.approx(51 / 101, abs=1e-4)
    assert first["map50"] == pytest.approx(51 / 101 * 0.5, abs=1e-4)
    assert (first["precision"], first["recall"]) == (0.5, 0.5)


def test_iou_below_one_half_is_a_miss_and_a_wrong_label_is_a_miss():
    truth = [[box(0, 0, 10, 10, "a")], [box(0, 0, 10, 10, "b")]]
    predicted = [[box(6, 0, 10, 10, "a", score=0.9)],  # IoU 4/16 = 0.25
                 [box(0, 0, 10, 10, "a", score=0.9)]]  # right place, wrong label

    m = box_metrics(["a", "b"], predicted, truth)

    assert m["map50"] == 0.0
    assert m["per_class"]["a"] == {"ap": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}
    assert m["per_class"]["b"] == {"ap": 0.0, "precision": None, "recall": 0.0, "support": 1}
    assert m["item_accuracy"] == 0.0


def test_per_label_ap_is_averaged_over_the_labels_that_have_true_boxes():
    truth = [[box(0, 0, 10, 10, "cat"), box(30, 30, 10, 10, "dog")]]
    predicted = [[box(0, 0, 10, 10, "cat", score=0.9)]]

    m = box_metrics(["cat", "dog", "bird"], predicted, truth)

    assert m["per_class"]["cat"]["ap"] == 1.0 and m["per_class"]["dog"]["ap"] == 0.0
    assert m["per_class"]["bird"] == {"ap": None, "precision": None, "recall": None, "support": 0}
    assert m["map50"] == 0.5 and (m["precision"], m["recall"]) == (1.0, 0.5)


def test_images_without_boxes_count_for_item_accuracy_and_calibration():
    truth = [[], [], [box(0, 0, 10, 10)]]
    predicted = [[], [box(0, 0, 5, 5, score=0.3)], [box(0, 0, 10, 10, score=0.95)]]

    m = box_metrics(["digit"], predicted, truth, confidence=[0.9, 0.3, 0.95])

    assert m["item_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["precision"] == 0.5 and m["recall"] == 1.0
    assert sum(row["count"] for row in m["calibration"]) == 3
    # Confidence 0.9 and 0.95 right, 0.3 wrong: the gaps are 0.1, 0.05 and 0.3.
    assert m["ece"] == pytest.approx((0.1 + 0.05 + 0.3) / 3, abs=1e-4)


def test_with_no_true_box_at_all_map_says_whether_anything_was_predicted():
    assert box_metrics(["digit"], [[], []], [[], []])["map50"] == 1.0
    assert box_metrics(["digit"], [[box(0, 0, 5, 5, score=0.5)], []], [[], []])["map50"] == 0.0
