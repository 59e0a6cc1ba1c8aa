"""Held-out metrics of box predictions: mAP at IoU 0.5 by pycocotools' COCOeval. No ORM.

Predicted boxes carry a `score`; true boxes are the human final values' boxes. Both are in image
pixels (`{"x", "y", "w", "h", "label"}`), one list per item. COCOeval matches each label's boxes
greedily by score at IoU >= 0.5 and averages precision over 101 recall points; mAP@0.5 is the
mean of that over the labels that have true boxes (what COCO calls AP50).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from models_registry.evaluation import calibration_bins, expected_calibration_error

IOU = 0.5
# COCO keeps at most this many detections per image and label; a project's images hold fewer.
MAX_DETECTIONS = 1000


def _coco(images: list[dict], categories: list[dict], annotations: list[dict]) -> COCO:
    coco = COCO()
    coco.dataset = {"images": images, "categories": categories, "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco


def _annotation(n: int, image: int, category: int, box: dict, score: float | None = None) -> dict:
    w, h = float(box["w"]), float(box["h"])
    ann = {"id": n, "image_id": image, "category_id": category, "bbox": [float(box["x"]), float(box["y"]), w, h],
           "area": w * h, "iscrowd": 0}
    if score is not None:
        ann["score"] = float(score)
    return ann


def box_metrics(labels: Sequence[str], predicted: Sequence[Sequence[dict]], truth: Sequence[Sequence[dict]],
                confidence: Sequence[float] | np.ndarray | None = None) -> dict:
    """mAP@0.5 ("map50"), precision, recall and per-label AP of `predicted` boxes against `truth`.

    `predicted[i]` are item i's boxes, each with a `score`; `truth[i]` its true boxes. Precision and
    recall count every predicted box (what pre-labeling would fill in). An item is right when its
    boxes and the true ones pair up one to one (same label, IoU >= 0.5); with `confidence` (each
    item's confidence, its least sure box) the calibration of that is reported too ("ece").
    Labels without true boxes are left out of the mean; with no true box at all, mAP is 1.0 when
    nothing was predicted either and 0.0 otherwise.
    """
    if len(predicted) != len(truth):
        raise ValueError("predicted and truth must have one entry per item")
    category = {label: k + 1 for k, label in enumerate(labels)}
    images = [{"id": i + 1} for i in range(len(truth))]
    categories = [{"id": k, "name": label} for label, k in category.items()]
    gts = [_annotation(0, i + 1, category[b["label"]], b) for i, boxes in enumerate(truth) for b in boxes
           if b["label"] in category]
    dts = [_annotation(0, i + 1, category[b["label"]], b, b.get("score", 1.0)) for i, boxes in enumerate(predicted)
           for b in boxes if b["label"] in category]
    for n, ann in enumerate(gts, start=1):  # ids from 1: COCOeval records a match as the other's id, 0 for none
        ann["id"] = n
    for n, ann in enumerate(dts, start=1):
        ann["id"] = n
    support = {label: 0 for label in labels}
    for ann in gts:
        support[labels[ann["category_id"] - 1]] += 1

    tp = {label: 0 for label in labels}
    ap: dict[str, float | None] = {label: None for label in labels}
    wrong_items: set[int] = set()
    if gts or dts:
        evaluation = COCOeval(_coco(images, categories, gts), _coco(images, categories, dts), iouType="bbox")
        evaluation.params.iouThrs = np.array([IOU])
        evaluation.params.maxDets = [MAX_DETECTIONS]
        evaluation.params.areaRng = [[0.0, float("inf")]]
        evaluation.params.areaRngLbl = ["all"]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation.evaluate()
            evaluation.accumulate()
        precision = evaluation.eval["precision"]  # [iou threshold, recall point, category, area, max dets]
        for k, label in enumerate(labels):
            curve = precision[0, :, k, 0, 0]
            if support[label] and (curve > -1).any():
                ap[label] = float(curve[curve > -1].mean())
        for result in evaluation.evalImgs:
            if result is None:
                continue
            matched = int((result["dtMatches"][0] > 0).sum())
            tp[labels[result["category_id"] - 1]] += matched
            if matched < len(result["dtIds"]) or matched < len(result["gtIds"]):
                wrong_items.add(result["image_id"] - 1)

    n_pred = {label: 0 for label in labels}
    for ann in dts:
        n_pred[labels[ann["category_id"] - 1]] += 1
    # Boxes of labels the project does not have can never be right.
    foreign_pred = sum(1 for boxes in predicted for b in boxes if b["label"] not in category)
    wrong_items |= {i for i, boxes in enumerate(predicted) if any(b["label"] not in category for b in boxes)}
    measured = [v for v in ap.values() if v is not None]
    if measured:
        map50 = float(np.mean(measured))
    else:
        map50 = 0.0 if dts or foreign_pred else 1.0
    total_tp, total_pred, total_true = sum(tp.values()), sum(n_pred.values()) + foreign_pred, len(gts)
    correct = np.array([i not in wrong_items for i in range(len(truth))], dtype=float)
    out: dict[str, Any] = {
        "map50": round(map50, 4),
        "precision": round(total_tp / total_pred, 4) if total_pred else 1.0,
        "recall": round(total_tp / total_true, 4) if total_true else 1.0,
        "item_accuracy": round(float(correct.mean()), 4) if len(correct) else 0.0,
        "per_class": {label: {"ap": None if (value := ap[label]) is None else round(value, 4),
                              "precision": round(tp[label] / n_pred[label], 4) if n_pred[label] else None,
                              "recall": round(tp[label] / support[label], 4) if support[label] else None,
                              "support": support[label]}
                      for label in labels},
        "test_size": len(truth),
        "boxes": {"true": total_true, "predicted": total_pred},
    }
    if confidence is not None and len(truth):
        conf = np.asarray(confidence, dtype=float)
        out["ece"] = round(expected_calibration_error(conf, correct), 4)
        out["calibration"] = calibration_bins(conf, correct)
    return out
