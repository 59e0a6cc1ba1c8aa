"""From annotators' values to a final value. Pure functions, no ORM.

`decide(task_type, values, iou)` applies the project's rule to the values of the non-skipped
annotations of one item:
- classification, pairwise: the label (choice) that a strict majority gave;
- multi_label: a label is in the final set when more than half include it; a label that exactly
  half include is undecided, and so is the item;
- spans, boxes: regions are matched across annotators by label and overlap (IoU >= `iou`); a
  region is kept when a majority of annotators has a matching region, with the most common
  offsets (spans) or the mean coordinates (boxes). Any annotator's region without a majority
  match is a disagreement;
- ranking: the responses ordered by their Borda count over the annotators' rankings (tied
  responses share their points), agreed when Kendall's W (corrected for ties) is at least the
  threshold. The project's `consensus_iou` setting (default 0.5) serves as that threshold, since a
  ranking project has no regions to overlap: 0 accepts any set of rankings, 1 only identical ones.
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


Ranking = Sequence[Sequence[str]]  # groups of response ids, best first; a group's ids are tied


def midranks(ranking: Ranking) -> dict[str, float]:
    """Each response's rank (1 = best); tied responses share the mean of the positions they span."""
    ranks: dict[str, float] = {}
    position = 1
    for group in ranking:
        for rid in group:
            ranks[rid] = position + (len(group) - 1) / 2
        position += len(group)
    return ranks


def borda(rankings: Sequence[Ranking]) -> dict[str, float]:
    """Borda count: a response gets n - rank points from each ranking (n responses), ties sharing.

    In a strict ranking of 4 the best gets 3 points and the worst 0; two tied at the top get 2.5 each.
    Keys follow the first ranking's order. All rankings must hold the same responses.
    """
    total: dict[str, float] = {}
    for ranking in rankings:
        ranks = midranks(ranking)
        for rid, rank in ranks.items():
            total[rid] = total.get(rid, 0.0) + len(ranks) - rank
    return total


def kendalls_w(rankings: Sequence[Ranking]) -> float:
    """Kendall's coefficient of concordance W in [0, 1], corrected for ties.

    W = 12 S / (m² (n³ - n) - m Σ T), with m rankings of n responses, S the sum of squared deviations
    of the responses' rank sums from their mean, and T = Σ (t³ - t) over each ranking's tied groups
    of size t. Rankings that tie everything leave nothing to disagree on: W is 1.
    """
    m = len(rankings)
    if m == 0:
        return 0.0
    ranks = [midranks(r) for r in rankings]
    ids = list(ranks[0])
    n = len(ids)
    sums = [sum(r[rid] for r in ranks) for rid in ids]
    mean = m * (n + 1) / 2
    s = sum((x - mean) ** 2 for x in sums)
    ties = sum(len(g) ** 3 - len(g) for ranking in rankings for g in ranking)
    denominator = m * m * (n ** 3 - n) - m * ties
    if denominator <= 0:
        return 1.0
    return max(0.0, min(1.0, 12 * s / denominator))


def consensus_ranking(rankings: Sequence[Ranking]) -> list[list[str]]:
    """The responses grouped by Borda count, most points first; equal points make a tie."""
    points = borda(rankings)
    # Doubled points are whole numbers (midranks are halves), so equal totals compare exactly.
    groups: dict[int, list[str]] = {}
    for rid, p in points.items():
        groups.setdefault(round(2 * p), []).append(rid)
    return [groups[k] for k in sorted(groups, reverse=True)]


def ranked(rankings: Sequence[Ranking], threshold: float = 0.5) -> Outcome:
    """Ranking: the Borda consensus when Kendall's W >= `threshold`, else a disagreement.

    Rankings of different sets of responses (not possible for validated values) disagree.
    """
    if not rankings or any(not isinstance(r, Sequence) or isinstance(r, str) for r in rankings):
        return Outcome(False, None)
    ids = {rid for group in rankings[0] for rid in group}
    if not ids or any({rid for group in r for rid in group} != ids for r in rankings):
        return Outcome(False, None)
    if kendalls_w(rankings) + _EPS < threshold:
        return Outcome(False, None)
    return Outcome(True, {"ranking": consensus_ranking(rankings)})


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
    if task_type == "ranking":
        return ranked([v.get("ranking", []) for v in values], iou)
    raise ValueError(f"unknown task type {task_type!r}")


def agrees(task_type: str, value: Any, final: Any, iou: float = 0.5) -> bool:
    """Whether one value agrees with a final value by the task type's rule (else it was corrected)."""
    if value is None or final is None:
        return value is None and final is None
    return decide(task_type, [value, final], iou).agreed
