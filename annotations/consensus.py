"""From annotators' values to a final value. Pure functions, no ORM.

`decide(task_type, values, iou)` applies the project's rule to the values of the non-skipped
annotations of one item:
- classification, pairwise: the label (choice) that a strict majority gave;
- multi_label: a label is in the final set when more than half include it; a label that exactly
  half include is undecided, and so is the item;
- spans, boxes: regions are matched across annotators by label and overlap (IoU >= `iou`); a
  region is kept when a majority of annotators has a matching region, with the most common
  offsets (spans) or the mean coordinates (boxes). Any annotator's region without a majority
  match is a disagreement.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Overlaps computed in floating point that land a hair below the threshold still match.
_EPS = 1e-9


@dataclass(frozen=True)
class Outcome:
    agreed: bool
    value: Any  # the agreed value, or None


def _is_majority(count: int, n: int) -> bool:
    return 2 * count > n


def _majority_of(key: str, values: Sequence[Mapping]) -> Outcome:
    """The `key` that a strict majority of values carries (classification label, pairwise choice)."""
    counts = Counter(v.get(key) for v in values)
    top, count = counts.most_common(1)[0]
    if _is_majority(count, len(values)):
        return Outcome(True, {key: top})
    return Outcome(False, None)


def majority_label(values: Sequence[Mapping]) -> Outcome:
    """Classification: the label a strict majority chose; a tie or plurality is a disagreement."""
    return _majority_of("label", values)


def majority_choice(values: Sequence[Mapping]) -> Outcome:
    """Pairwise: the choice ("a", "b", "tie") a strict majority made."""
    return _majority_of("choice", values)


def per_label_majority(values: Sequence[Mapping]) -> Outcome:
    """Multi-label: the labels more than half include; undecided if one is included by exactly half."""
    n = len(values)
    counts: Counter[str] = Counter()
    order: list[str] = []  # first appearance, so the final value reads like the annotations
    for v in values:
        for label in v.get("labels", []):
            if label not in counts:
                order.append(label)
            counts[label] += 1
    if any(2 * c == n for c in counts.values()):
        return Outcome(False, None)
    return Outcome(True, {"labels": [label for label in order if _is_majority(counts[label], n)]})


def span_iou(a: Mapping, b: Mapping) -> float:
    """Intersection over union of two character ranges [start, end)."""
    inter = min(a["end"], b["end"]) - max(a["start"], b["start"])
    if inter <= 0:
        return 0.0
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    return inter / union


def box_iou(a: Mapping, b: Mapping) -> float:
    """Intersection over union of two boxes {x, y, w, h}."""
    iw = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    ih = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Cluster:
    label: str
    members: dict[int, Mapping] = field(default_factory=dict)  # annotator index -> region


def _match_regions(regions_per_annotator: Sequence[Sequence[Mapping]], overlap: Callable[[Mapping, Mapping], float],
                   iou: float) -> list[_Cluster]:
    """Group regions so that each group holds at most one region per annotator, all with one label.

    A region joins the group whose every member it overlaps best (IoU >= `iou` and > 0 with each, so a
    chain of small shifts cannot stretch a group); otherwise it starts a new one. Annotators are
    taken in order, and each annotator's regions in order, so the result is deterministic.
    """
    clusters: list[_Cluster] = []
    for who, regions in enumerate(regions_per_annotator):
        for region in regions:
            best, best_score = None, -1.0
            for cluster in clusters:
                if cluster.label != region["label"] or who in cluster.members:
                    continue
                score = min(overlap(region, m) for m in cluster.members.values())
                # Disjoint regions never match, even with a threshold of 0.
                if score > 0 and score + _EPS >= iou and score > best_score:
                    best, best_score = cluster, score
            if best is None:
                best = _Cluster(region["label"])
                clusters.append(best)
            best.members[who] = region
    return clusters


def _regions(values: Sequence[Mapping], key: str, overlap: Callable[[Mapping, Mapping], float], iou: float,
             merge: Callable[[list[Mapping]], dict]) -> Outcome:
    n = len(values)
    clusters = _match_regions([v.get(key, []) for v in values], overlap, iou)
    if any(not _is_majority(len(c.members), n) for c in clusters):
        return Outcome(False, None)
    return Outcome(True, {key: [merge(list(c.members.values())) | {"label": c.label} for c in clusters]})


def _most_common_span(spans: list[Mapping]) -> dict:
    # Counter keeps first-seen order among equals, so a tie goes to the earliest annotator.
    (start, end), _ = Counter((s["start"], s["end"]) for s in spans).most_common(1)[0]
    return {"start": start, "end": end}


def _round(x: float) -> float | int:
    r = round(x, 2)
    return int(r) if r == int(r) else r


def _mean_box(boxes: list[Mapping]) -> dict:
    return {k: _round(sum(b[k] for b in boxes) / len(boxes)) for k in ("x", "y", "w", "h")}


def matched_spans(values: Sequence[Mapping], iou: float = 0.5) -> Outcome:
    """Spans: regions matched by label and IoU; kept with their most common offsets, in text order."""
    outcome = _regions(values, "spans", span_iou, iou, _most_common_span)
    if outcome.agreed:
        outcome.value["spans"].sort(key=lambda s: (s["start"], s["end"], s["label"]))
    return outcome


def matched_boxes(values: Sequence[Mapping], iou: float = 0.5) -> Outcome:
    """Boxes: regions matched by label and IoU; kept with their mean coordinates (2 decimals)."""
    return _regions(values, "boxes", box_iou, iou, _mean_box)


def decide(task_type: str, values: Sequence[Any], iou: float = 0.5) -> Outcome:
    """The final value of one item from its non-skipped annotations' values, by the task type's rule."""
    if not values:
        return Outcome(False, None)
    if task_type == "classification":
        return majority_label(values)
    if task_type == "multi_label":
        return per_label_majority(values)
    if task_type == "spans":
        return matched_spans(values, iou)
    if task_type == "boxes":
        return matched_boxes(values, iou)
    if task_type == "pairwise":
        return majority_choice(values)
    raise ValueError(f"unknown task type {task_type!r}")


def agrees(task_type: str, value: Any, final: Any, iou: float = 0.5) -> bool:
    """Whether one value agrees with a final value by the task type's rule (else it was corrected)."""
    if value is None or final is None:
        return value is None and final is None
    return decide(task_type, [value, final], iou).agreed
