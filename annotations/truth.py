"""Consensus by Dawid–Skene for classification projects whose `consensus_method` is "dawid_skene".

The rule, applied by `settle()` when an item of such a project has all its annotations:

1. Load the project's most recent `WINDOW` (20,000) non-skipped annotations as (item, annotator, label)
   triples in one query, plus the item's own, and keep only items with two or more annotators (the
   ones that say something about how annotators relate).
2. With too little data to estimate confusion matrices — fewer than `MIN_ANNOTATORS` (3) annotators
   or fewer than `MIN_ITEMS` (10) such overlapping items, or an item with a single annotation — fall
   back to the majority rule (`consensus.decide`): a strict majority label or a disagreement.
3. Otherwise fit Dawid–Skene (`agreement.truth_inference`, crowd-kit) over those triples. The item's
   posterior over labels is prior(t) * prod over its annotators of P(their label | t), normalised, with
   each annotator's confusion matrix from the fit and the prior the share of items DS assigns to each
   label. The item takes the DS label as its consensus when that posterior is >= `MIN_POSTERIOR` (0.5),
   even where a majority of its annotators said otherwise (DS knows who is unreliable or adversarial);
   below that the item is a disagreement and goes to review.

The cost is one query and one DS fit over at most `WINDOW` annotations per settled item (about half a
second at the full window).
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annotations import agreement
from annotations.consensus import Outcome, decide
from annotations.models import Annotation

WINDOW = 20_000
MIN_ANNOTATORS = 3
MIN_ITEMS = 10
MIN_POSTERIOR = 0.5
DAWID_SKENE = "dawid_skene"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    method: str  # "dawid_skene" or "majority" (the fallback)
    posterior: float | None = None  # DS's posterior of the chosen label


def uses_dawid_skene(project) -> bool:
    return project.task_type == "classification" and getattr(project, "consensus_method", "") == DAWID_SKENE


def project_ratings(project_id: int, item_id: int | None = None, window: int = WINDOW) -> list[agreement.Rating]:
    """(item, annotator, label) of the project's latest `window` annotations (and the item's, if given),
    overlapping only."""
    recent = (Annotation.objects.filter(project_id=project_id, skipped=False).order_by("-id")
              .values_list("item_id", "user_id", "value")[:window])
    own = (Annotation.objects.filter(item_id=item_id, skipped=False).values_list("item_id", "user_id", "value")
           if item_id is not None else [])
    ratings = [(i, u, v["label"]) for i, u, v in [*recent, *own]
               if isinstance(v, dict) and isinstance(v.get("label"), str)]
    return [(i, u, label) for i, labels_of in agreement.overlapping(ratings).items() for u, label in labels_of.items()]


Confusion = dict[Hashable, dict[str, dict[str, float]]]  # annotator -> {true label -> {said -> P(said | true)}}


def label_prior(result: agreement.TruthInference) -> dict[str, float]:
    """The share of items DS gives each label (add-one smoothed), over the labels the fit knows."""
    labels = sorted({*result.dawid_skene.values(), *(t for m in result.confusion.values() for t in m)})
    n = len(result.dawid_skene)
    return {t: (sum(1 for v in result.dawid_skene.values() if v == t) + 1) / (n + len(labels)) for t in labels}


def posterior(votes: dict[Hashable, str], result: agreement.TruthInference) -> dict[str, float]:
    """P(true label | the item's votes) under a Dawid–Skene fit; {} when it cannot be computed."""
    if not result.dawid_skene:
        return {}
    return posterior_given(votes, result.confusion, label_prior(result))


def posterior_given(votes: Mapping[Any, str], confusion: Confusion, prior: dict[str, float]) -> dict[str, float]:
    """P(true label | votes) ∝ prior(t) * prod over the voters of P(their label | t); {} without labels.

    A voter or an entry the confusion lacks counts as probability 0 (floored at 1e-12)."""
    if not prior:
        return {}
    logp = {}
    for t, p_t in prior.items():
        total = math.log(p_t)
        for annotator, said in votes.items():
            p = confusion.get(annotator, {}).get(t, {}).get(said, 0.0)
            total += math.log(max(p, 1e-12))
        logp[t] = total
    top = max(logp.values())
    weights = {t: math.exp(v - top) for t, v in logp.items()}
    norm = sum(weights.values())
    return {t: w / norm for t, w in weights.items()}


def decide_by_dawid_skene(ratings: Sequence[agreement.Rating], item_id: Hashable,
                          values: Sequence[Any]) -> Decision:
    """The rule of this module's docstring, given the overlapping ratings and the item's own values."""
    overlap = agreement.by_item(ratings)
    annotators = {a for labels_of in overlap.values() for a in labels_of}
    votes = overlap.get(item_id, {})
    if len(annotators) < MIN_ANNOTATORS or len(overlap) < MIN_ITEMS or len(votes) < 2:
        return Decision(decide("classification", values), "majority")
    result = agreement.truth_inference(ratings)
    label = result.dawid_skene.get(item_id)
    p = posterior(votes, result).get(label, 0.0) if label is not None else 0.0
    if label is not None and p >= MIN_POSTERIOR:
        return Decision(Outcome(True, {"label": label}), DAWID_SKENE, round(p, 4))
    return Decision(Outcome(False, None), DAWID_SKENE, round(p, 4))


def settle_by_dawid_skene(item, values: Sequence[Any]) -> Decision:
    """Decide a classification item of a "dawid_skene" project from the project's annotations so far."""
    return decide_by_dawid_skene(project_ratings(item.project_id, item.pk), item.pk, values)
