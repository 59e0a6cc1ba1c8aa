"""Built-in reward model for pairwise preference: Bradley–Terry over text features.

    P(a preferred to b) = σ(r(prompt, a) − r(prompt, b)),   r(prompt, x) = w · φ(prompt, x)

φ(prompt, x) is a response's TF-IDF word (1–2) and character (3–5) n-grams, its similarity to the
prompt (mean cosine over the two n-gram spaces) and its log length in words; the n-grams are fitted
on the texts of both sides. A logistic regression without intercept on φ(a) − φ(b) is a Bradley–Terry
model of the reward r.

- **Symmetric.** Every pair is also fitted swapped (φ(b) − φ(a), the other answer), and a prediction
  averages the pair both ways round, so P(a over b) = 1 − P(b over a) exactly: where a response sits
  on screen tells nothing. (A position bias of the annotators is therefore not modelled.)
- **Ties** are fitted as half an "a" and half a "b" (weight ½ each): the likelihood of a tie is
  highest at P = 0.5, so a tie teaches that the two answers are as good, without inventing a side.
- **Calibrated.** From `CALIBRATE_FROM` decided pairs on, temperature scaling on cross-validated
  folds (a pair and its swapped copy always in the same fold, so no fold is scored on a pair it
  saw); below that the plain regression. Under the uncertainty order the labeled pairs are the hard
  ones, and the fitted temperature leaves the model under-confident on the rest (bench/README.md,
  "Pairwise preference"), so it auto-accepts less than it could.
- It learns one reward for all prompts: what makes an answer better is read from the answer (and its
  overlap with the prompt), not from an interaction of the two, which needs far more labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion

from models_registry.backends.base import Backend, BackendError, Predictions, Probabilities

SIDES = ["a", "b"]
TIE = "tie"
# A tie counts as this much of a vote for each side.
TIE_WEIGHT = 0.5
# Decided (a or b) pairs needed before the probabilities are calibrated on cross-validated folds.
CALIBRATE_FROM = 20
FOLDS = 3


@dataclass
class RewardModel:
    """What is stored for a version: the fitted n-grams and the regression on feature differences."""

    features: FeatureUnion
    classifier: Any  # predict_proba(φ(a) − φ(b))[:, 1] = P(a preferred)
    pairs: int  # decided pairs it was fitted on
    ties: int
    calibrated: bool


def _text(data: dict, key: str) -> str:
    return str(data.get(key) or "")


def _response_features(features: FeatureUnion, prompts: sp.csr_matrix, responses: list[str]) -> sp.csr_matrix:
    """φ per response: n-grams, similarity to its prompt (a row of `prompts`), log length."""
    r = features.transform(responses)
    # Each of the two n-gram blocks is L2-normalised: the dot product over both is twice the mean cosine.
    similarity = np.asarray(r.multiply(prompts).sum(axis=1)).ravel() / 2.0
    length = np.log1p([len(t.split()) for t in responses])
    return sp.hstack([r, sp.csr_matrix(np.column_stack([similarity, length]))], format="csr")


def pair_features(features: FeatureUnion, data: list[dict]) -> sp.csr_matrix:
    """φ(prompt, a) − φ(prompt, b) per pair; swapping the sides negates it."""
    # Projects often ask one prompt of many pairs: each distinct prompt is vectorised once.
    distinct: dict[str, int] = {}
    which = [distinct.setdefault(_text(d, "prompt"), len(distinct)) for d in data]
    prompts = features.transform(list(distinct))[which]
    a = _response_features(features, prompts, [_text(d, "a") for d in data])
    b = _response_features(features, prompts, [_text(d, "b") for d in data])
    return (a - b).tocsr()


def _classifier(decided: int, groups: np.ndarray, x: sp.csr_matrix, y: np.ndarray, w: np.ndarray):
    base = LogisticRegression(fit_intercept=False, C=4.0, max_iter=2000)
    if decided < CALIBRATE_FROM:
        return base.fit(x, y, sample_weight=w)
    splits = list(GroupKFold(n_splits=FOLDS).split(x, y, groups))
    return CalibratedClassifierCV(base, method="temperature", cv=splits).fit(x, y, sample_weight=w)


def fit_reward_model(data: list[dict], targets: list[Any]) -> RewardModel:
    """Fit on pairs and their final choices ("a", "b" or "tie"); other targets are ignored."""
    rows = [(d, t) for d, t in zip(data, targets) if t in SIDES or t == TIE]
    decided = sum(t in SIDES for _, t in rows)
    if not decided:
        raise BackendError("Training a reward model needs pairs where a or b was chosen; there are none.")
    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=200_000)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, max_features=200_000)),
    ])
    features.fit([_text(d, side) for d, _ in rows for side in SIDES])
    diff = pair_features(features, [d for d, _ in rows])
    # One row per decided pair, two half rows (a, then b) per tie; then all of them swapped.
    index, y, w = [], [], []
    for i, (_, t) in enumerate(rows):
        if t == TIE:
            index += [i, i]
            y += [1, 0]
            w += [TIE_WEIGHT, TIE_WEIGHT]
        else:
            index.append(i)
            y.append(1 if t == "a" else 0)
            w.append(1.0)
    x = diff[index]
    y_, w_ = np.array(y), np.array(w)
    groups = np.array(index)
    model = _classifier(decided, np.concatenate([groups, groups]), sp.vstack([x, -x], format="csr"),
                        np.concatenate([y_, 1 - y_]), np.concatenate([w_, w_]))
    return RewardModel(features, model, pairs=decided, ties=len(rows) - decided, calibrated=decided >= CALIBRATE_FROM)


def preference(model: RewardModel, data: list[dict]) -> np.ndarray:
    """P(a preferred to b) per pair, the same as 1 − P(b preferred to a) with the sides swapped."""
    if not data:
        return np.zeros(0)
    x = pair_features(model.features, data)
    forward = model.classifier.predict_proba(x)[:, 1]
    backward = model.classifier.predict_proba(-x)[:, 1]
    return np.clip((forward + 1.0 - backward) / 2.0, 0.0, 1.0)


class RewardBackend(Backend):
    """Pairwise projects: predicts the preferred side with P(a) and P(b) as class probabilities."""

    name = "builtin_reward"

    def fit(self, data: list[dict], targets: list[Any]) -> Any:
        return fit_reward_model(data, targets)

    def predict(self, model: Any, data: list[dict]) -> Probabilities:
        p = preference(model, data)
        return Probabilities(classes=list(SIDES), probs=np.column_stack([p, 1.0 - p]),
                             ok=np.ones(len(data), dtype=bool))

    def predict_values(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Predictions:
        """{"choice": "a" | "b"} (a at exactly 0.5), confidence max(P, 1 − P), probs [[P(a), P(b)]]."""
        result = self.predict(model, data)
        p = result.probs[:, 0]
        values = [{"choice": "a" if pa >= 0.5 else "b"} for pa in p]
        scores = [{"a": round(float(pa), 6), "b": round(float(1.0 - pa), 6)} for pa in p]
        return Predictions(values, np.maximum(p, 1.0 - p), result.ok, scores, list(SIDES), result.probs)
