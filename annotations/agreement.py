"""Agreement and truth inference over classification labels. Pure: no ORM.

Every function takes plain `ratings`: (item, annotator, label) triples, one per non-skipped
annotation, with hashable item and annotator keys and string labels. Items rated by a single
annotator carry no information about agreement; the agreement figures ignore them.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np

Rating = tuple[Hashable, Hashable, str]


@dataclass
class PairKappa:
    annotators: tuple[Hashable, Hashable]
    kappa: float | None  # None when undefined (both annotators used one and the same label throughout)
    shared_items: int


@dataclass
class TruthInference:
    """Majority vote and Dawid–Skene, each as item -> label, with DS's view of every annotator."""

    majority_vote: dict[Hashable, str]
    dawid_skene: dict[Hashable, str]
    # annotator -> {true label -> {observed label -> P(observed | true)}}
    confusion: dict[Hashable, dict[str, dict[str, float]]] = field(default_factory=dict)
    # annotator -> sum over true labels of prior * P(says it | true): their expected accuracy
    accuracy: dict[Hashable, float] = field(default_factory=dict)


def by_item(ratings: Iterable[Rating]) -> dict[Hashable, dict[Hashable, str]]:
    """item -> {annotator -> label}; a later rating by the same annotator replaces an earlier one."""
    out: dict[Hashable, dict[Hashable, str]] = defaultdict(dict)
    for item, annotator, label in ratings:
        out[item][annotator] = label
    return dict(out)


def overlapping(ratings: Iterable[Rating]) -> dict[Hashable, dict[Hashable, str]]:
    """Only the items with at least two annotators (the ones agreement can be measured on)."""
    return {item: labels for item, labels in by_item(ratings).items() if len(labels) >= 2}


def _order(key: Hashable) -> tuple[int, Any]:
    """Sort keys: numbers (user ids) by value, so 9 comes before 10; anything else by its text."""
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, key)
    return (1, str(key))


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def krippendorff_alpha(ratings: Iterable[Rating], labels: Sequence[str] = ()) -> float | None:
    """Krippendorff's alpha (nominal) over an items x annotators matrix; None when undefined.

    Undefined means no item has two annotators, or every pairable value is the same label
    (no expected disagreement to compare with).
    """
    items = overlapping(ratings)
    if not items:
        return None
    annotators = sorted({a for labels_of in items.values() for a in labels_of}, key=str)
    domain = list(dict.fromkeys([*labels, *sorted({v for lab in items.values() for v in lab.values()})]))
    code = {label: i for i, label in enumerate(domain)}
    if len({v for lab in items.values() for v in lab.values()}) < 2:
        return None
    # krippendorff wants annotators as rows, items as columns, NaN where an annotator is missing.
    matrix = np.full((len(annotators), len(items)), np.nan)
    row = {a: i for i, a in enumerate(annotators)}
    for col, labels_of in enumerate(items.values()):
        for annotator, label in labels_of.items():
            matrix[row[annotator], col] = code[label]
    import krippendorff  # imported late: only the stats endpoint needs it

    try:
        value = krippendorff.alpha(reliability_data=matrix, value_domain=list(range(len(domain))),
                                   level_of_measurement="nominal")
    except (ValueError, ZeroDivisionError):
        return None
    return _finite(value)


def pairwise_kappa(ratings: Iterable[Rating], min_shared: int = 2) -> list[PairKappa]:
    """Cohen's kappa for every pair of annotators with at least `min_shared` items in common."""
    from sklearn.metrics import cohen_kappa_score

    per_annotator: dict[Hashable, dict[Hashable, str]] = defaultdict(dict)
    for item, labels_of in overlapping(ratings).items():
        for annotator, label in labels_of.items():
            per_annotator[annotator][item] = label
    out = []
    for a, b in combinations(sorted(per_annotator, key=_order), 2):
        shared = sorted(per_annotator[a].keys() & per_annotator[b].keys(), key=str)
        if len(shared) < min_shared:
            continue
        ya = [per_annotator[a][i] for i in shared]
        yb = [per_annotator[b][i] for i in shared]
        if len(set(ya) | set(yb)) < 2:
            kappa = None  # one label throughout: chance agreement is 1 and kappa is 0/0
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                kappa = _finite(cohen_kappa_score(ya, yb))
        out.append(PairKappa((a, b), kappa, len(shared)))
    return out


def per_label_agreement(ratings: Iterable[Rating], labels: Sequence[str] = ()) -> dict[str, float | None]:
    """For each label: of the overlapping items where at least one annotator chose it, the share where all did.

    None for a label nobody chose on an overlapping item.
    """
    chosen: dict[str, int] = defaultdict(int)
    unanimous: dict[str, int] = defaultdict(int)
    for labels_of in overlapping(ratings).values():
        values = set(labels_of.values())
        for label in values:
            chosen[label] += 1
            if len(values) == 1:
                unanimous[label] += 1
    domain = list(dict.fromkeys([*labels, *sorted(chosen)]))
    return {label: (unanimous[label] / chosen[label] if chosen[label] else None) for label in domain}


def truth_inference(ratings: Iterable[Rating], n_iter: int = 100) -> TruthInference:
    """Majority vote and Dawid–Skene (crowd-kit) over the same ratings, with DS's annotator confusion."""
    ratings = list(ratings)
    df = _frame(ratings)
    if df is None:
        return TruthInference({}, {})
    from crowdkit.aggregation import DawidSkene, MajorityVote

    with warnings.catch_warnings():
        # crowd-kit 1.4 still uses pandas' deprecated inplace/copy keywords; the results are unaffected.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        mv = {k: str(v) for k, v in MajorityVote().fit_predict(df).items()}
        ds = DawidSkene(n_iter=n_iter)
        predicted = {k: str(v) for k, v in ds.fit_predict(df).items()}
    # errors_: index (worker, observed label), columns true label, values P(observed | true).
    priors = {str(k): float(v) for k, v in ds.priors_.items()}
    confusion: dict[Hashable, dict[str, dict[str, float]]] = {}
    accuracy: dict[Hashable, float] = {}
    for worker in df["worker"].unique():
        block = ds.errors_.xs(worker, level=0)
        matrix = {str(true): {str(obs): _round(block.at[obs, true]) for obs in block.index}
                  for true in block.columns}
        confusion[worker] = matrix
        accuracy[worker] = _round(sum(priors.get(str(t), 0.0) * float(block.at[t, t])
                                      for t in block.columns if t in block.index))
    return TruthInference(mv, predicted, confusion, accuracy)


def confusion(pairs: Iterable[tuple[str, str]], labels: Sequence[str]) -> dict[str, Any]:
    """Confusion of (annotator label, final label) pairs: rows are final labels, columns annotator labels.

    Labels outside `labels` are appended so no pair is silently dropped.
    """
    return confusion_of_counts(Counter(pairs), labels)


def confusion_of_counts(counts: Mapping[tuple[str, str], int], labels: Sequence[str]) -> dict[str, Any]:
    """`confusion` from (annotator label, final label) -> how many: what a streamed pass (or a GROUP BY)
    keeps, a handful of cells however many annotations there are."""
    seen = sorted({x for pair, n in counts.items() if n for x in pair} - set(labels))
    domain = [*labels, *seen]
    at = {label: i for i, label in enumerate(domain)}
    matrix = [[0] * len(domain) for _ in domain]
    for (given, final), n in counts.items():
        if n:
            matrix[at[final]][at[given]] += n
    return {"labels": domain, "matrix": matrix}


def share(hits: int, total: int) -> float | None:
    """hits / total, None when there is nothing to count."""
    return hits / total if total else None


def _round(x: Any) -> float:
    return round(float(x), 6)


def _frame(ratings: Iterable[Rating]):
    import pandas as pd

    rows = [(item, annotator, label) for item, labels_of in by_item(ratings).items()
            for annotator, label in labels_of.items()]
    if not rows:
        return None
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def mapping_agreement(a: Mapping[Hashable, str], b: Mapping[Hashable, Any]) -> tuple[int, int]:
    """(items where a and b give the same label, items both give a label for)."""
    shared = a.keys() & b.keys()
    return sum(1 for k in shared if a[k] == b[k]), len(shared)


# --- rubric questions (`tasks.questions`) ----------------------------------------------------------

# (item, annotator, answer) triples of one question; the answer is a rating (int), a flag (bool), an
# option (str) or a tuple of options (a multiple choice).
Answer = tuple[Hashable, Hashable, Hashable]


Level = Literal["nominal", "ordinal"]


def alpha(answers: Iterable[Answer], level: Level, domain: Sequence[Hashable] = ()) -> float | None:
    """Krippendorff's alpha of one question's answers at `level` ("ordinal" for ratings, whose `domain`
    is the scale's points in order; "nominal" for the rest); None when undefined (no item with two
    annotators, or a single value throughout)."""
    items = {item: given for item, given in by_item(answers).items() if len(given) >= 2}  # type: ignore[arg-type]
    seen = {v for given in items.values() for v in given.values()}
    if not items or len(seen) < 2:
        return None
    values = list(dict.fromkeys([*domain, *sorted(seen - set(domain), key=str)]))
    code = {v: i for i, v in enumerate(values)}
    annotators = sorted({a for given in items.values() for a in given}, key=str)
    row = {a: i for i, a in enumerate(annotators)}
    matrix = np.full((len(annotators), len(items)), np.nan)
    for col, given in enumerate(items.values()):
        for annotator, v in given.items():
            matrix[row[annotator], col] = code[v]
    import krippendorff

    try:
        value = krippendorff.alpha(reliability_data=matrix, value_domain=list(range(len(values))),
                                   level_of_measurement=level)
    except (ValueError, ZeroDivisionError):
        return None
    return _finite(value)


@dataclass
class QuestionAgreement:
    id: str
    type: str
    level: str
    overlapping_items: int
    alpha: float | None
    pairs: list[dict[str, Any]] = field(default_factory=list)  # {"annotators": (a, b), "alpha", "shared_items"}


def question_agreement(question: Mapping[str, Any], answers: Iterable[Answer], min_shared: int = 2,
                       ) -> QuestionAgreement:
    """Alpha of one rubric question (ordinal for a rating, nominal for a flag or choice), over all
    annotators and per pair of annotators who share at least `min_shared` items."""
    answers = list(answers)
    rating = question.get("type") == "rating"
    level: Level = "ordinal" if rating else "nominal"
    domain: list[Hashable] = list(range(1, int(question.get("scale") or 0) + 1)) if rating else []
    items = {item: given for item, given in by_item(answers).items() if len(given) >= 2}  # type: ignore[arg-type]
    per_annotator: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    for item, given in items.items():
        for annotator, v in given.items():
            per_annotator[annotator][item] = v
    pairs = []
    for a, b in combinations(sorted(per_annotator, key=_order), 2):
        shared = per_annotator[a].keys() & per_annotator[b].keys()
        if len(shared) < min_shared:
            continue
        subset = [(i, who, per_annotator[who][i]) for i in shared for who in (a, b)]
        pairs.append({"annotators": (a, b), "alpha": alpha(subset, level, domain), "shared_items": len(shared)})
    return QuestionAgreement(str(question.get("id")), str(question.get("type")), level, len(items),
                             alpha(answers, level, domain), pairs)
