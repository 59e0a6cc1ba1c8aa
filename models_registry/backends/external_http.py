"""A team's own model (or an LLM) behind an HTTP endpoint.

Protocol: the platform POSTs `{"task_type", "labels", "items": [{"id", "data"}, ...]}` and expects one
prediction per item:
- classification, multi-label: `{"predictions": [{"id": <item id>, "scores": {"<label>": <probability>}}]}`;
- boxes: `{"predictions": [{"id": <item id>, "boxes": [{"x", "y", "w", "h", "label", "score"}],
  "confidence"?: <probability>}]}`. The item's value is its boxes without the scores; its confidence is
  the least sure box, or the optional item-level `confidence` (how sure the model is that it missed
  nothing) where that is lower. An item without boxes has that `confidence`, else 0.5
  (`structured.EMPTY_CONFIDENCE`), so an empty answer is never accepted unseen;
- ranking: `{"predictions": [{"id": <item id>, "ranking": [["r2"], ["r1", "r3"], ...], "confidence"?: <p>}]}`,
  groups of tied response ids, best first, every response of the item exactly once. The confidence is
  the model's in the whole order; without one it is 0.5, so an unqualified order is never accepted unseen.
Anything else is a `BackendError` that names the problem (e.g. "predictions[3].boxes[0].w: ...").
"""
from __future__ import annotations

import math
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import orjson

from models_registry.backends.base import Backend, BackendError, Predictions, Probabilities
from models_registry.structured import EMPTY_CONFIDENCE, PARTS, is_probability, is_structured, with_own_scores
from tasks.questions import suggestions
from tasks.values import ValueShapeError, validate_ranking

RANKING = "ranking"  # predicts a whole order, not parts with scores nor class probabilities


class ExternalHTTPBackend(Backend):
    name = "http"
    trainable = False

    def __init__(self, task_type: str, labels: list[str], url: str = "", timeout: float = 30.0,
                 questions: list[dict] | None = None):
        super().__init__(task_type, labels)
        self.url = url
        self.timeout = timeout
        # The project's rubric questions: a judge may suggest answers to them (`answers` per prediction).
        self.questions = questions or []

    def fit(self, data, targets):
        raise BackendError("This project uses an external model; train it where it runs.")

    def predict(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Probabilities:
        if is_structured(self.task_type) or self.task_type == RANKING:
            raise BackendError(f"A {self.task_type} model predicts values, not class probabilities.")
        ids = ids if ids is not None else list(range(len(data)))
        return self._parse(self._ask(data, ids), ids)

    def predict_values(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Predictions:
        ids = ids if ids is not None else list(range(len(data)))
        raw = self._ask(data, ids)
        if self.task_type == RANKING:
            result = self._parse_rankings(raw, ids, data)
        elif is_structured(self.task_type):
            result = self._parse_parts(raw, ids, data)
        else:
            result = self.from_probabilities(self._parse(raw, ids))
        if self.questions:
            result.answers = self._answers(raw, ids)
        return result

    def _answers(self, raw: bytes, ids: list[int]) -> list[dict | None]:
        """The judge's suggested answers to the rubric questions, per item (None where it gave none):
        `"answers": {"<question id>": {"value": ..., "confidence": p}}` beside the main prediction."""
        row_of = {item_id: n for n, item_id in enumerate(ids)}
        out: list[dict | None] = [None] * len(ids)
        for k, p in enumerate(self._predictions(raw)):
            if not isinstance(p, dict) or p.get("answers") is None or p.get("id") not in row_of:
                continue
            try:
                out[row_of[p["id"]]] = suggestions(self.questions, p["answers"], f"predictions[{k}].answers")
            except ValueShapeError as exc:
                raise BackendError(f"{exc.field}: {exc.message}.") from None
        return out

    def _ask(self, data: list[dict], ids: list[int]) -> bytes:
        body = orjson.dumps({"task_type": self.task_type, "labels": self.labels,
                             "items": [{"id": i, "data": d} for i, d in zip(ids, data)]})
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise BackendError(f"The model endpoint answered HTTP {exc.code}.") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"The model endpoint could not be reached: {reason}.") from None

    @staticmethod
    def _predictions(raw: bytes) -> list:
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BackendError("The model endpoint's answer is not JSON.") from None
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list):
            raise BackendError("The model endpoint's answer has no 'predictions' list.")
        return predictions

    @staticmethod
    def _all_seen(seen: np.ndarray, ids: list[int]) -> None:
        if not seen.all():
            missing = [ids[i] for i in np.flatnonzero(~seen)[:5]]
            raise BackendError(f"The model endpoint gave no prediction for items {missing}.")

    def _parse_parts(self, raw: bytes, ids: list[int], data: list[dict]) -> Predictions:
        """Boxes with a score each: validated strictly, the whole batch or nothing."""
        key = PARTS[self.task_type]
        row_of = {item_id: n for n, item_id in enumerate(ids)}
        values: list = [None] * len(ids)
        scores: list[dict] = [{} for _ in ids]
        confidence = np.zeros(len(ids))
        seen = np.zeros(len(ids), dtype=bool)
        for where, row, p, given in self._each(raw, row_of, seen, f"a '{key}' list",
                                               lambda p: isinstance(p.get(key), list)):
            try:
                scored = with_own_scores(self.task_type, self.labels, p[key], data[row], where)
            except ValueShapeError as exc:
                raise BackendError(f"{exc.field}: {exc.message}.") from None
            values[row], scores[row] = scored.value, scored.scores
            confidence[row] = scored.confidence(given)
        self._all_seen(seen, ids)
        return Predictions(values, confidence, seen, scores)

    def _parse_rankings(self, raw: bytes, ids: list[int], data: list[dict]) -> Predictions:
        """Orders of each item's responses with an optional confidence: validated strictly, all or nothing."""
        row_of = {item_id: n for n, item_id in enumerate(ids)}
        values: list = [None] * len(ids)
        confidence = np.zeros(len(ids))
        seen = np.zeros(len(ids), dtype=bool)
        for where, row, p, given in self._each(raw, row_of, seen, "a 'ranking'",
                                               lambda p: "ranking" in p):
            try:
                values[row] = validate_ranking({"ranking": p["ranking"]}, data[row], field=where)
            except ValueShapeError as exc:
                raise BackendError(f"{exc.field}: {exc.message}.") from None
            confidence[row] = EMPTY_CONFIDENCE if given is None else given
        self._all_seen(seen, ids)
        return Predictions(values, confidence, seen, [{} for _ in ids])

    def _each(self, raw: bytes, row_of: dict[int, int], seen: np.ndarray, wanted: str, has):
        """Each prediction of the answer as (where, row, prediction, its confidence or None), once its
        item id, what it must hold (`has(p)`, named by `wanted`) and its confidence are checked; marks
        the row `seen`."""
        for k, p in enumerate(self._predictions(raw)):
            where = f"predictions[{k}]"
            item_id = p.get("id") if isinstance(p, dict) else None
            if not isinstance(item_id, int) or isinstance(item_id, bool) or item_id not in row_of or not has(p):
                raise BackendError(f"{where}: needs the 'id' of an item that was sent and {wanted}.")
            row = row_of[item_id]
            if seen[row]:
                raise BackendError(f"{where}: item {item_id} has a prediction already.")
            given = p.get("confidence")
            if given is not None and not is_probability(given):
                raise BackendError(f"{where}.confidence: must be a probability between 0 and 1.")
            seen[row] = True
            yield where, row, p, (None if given is None else float(given))

    def _parse(self, raw: bytes, ids: list[int]) -> Probabilities:
        predictions = self._predictions(raw)
        index = {label: j for j, label in enumerate(self.labels)}
        row_of = {item_id: n for n, item_id in enumerate(ids)}
        probs = np.zeros((len(ids), len(self.labels)))
        seen = np.zeros(len(ids), dtype=bool)
        for k, p in enumerate(predictions):
            where = f"predictions[{k}]"
            # Ids are ints; anything else (a list, say) would not even be a dict key.
            if not isinstance(p, dict) or not isinstance(p.get("id"), int) or p["id"] not in row_of \
                    or not isinstance(p.get("scores"), dict):
                raise BackendError(f"{where}: needs the 'id' of an item that was sent and a 'scores' object.")
            row = row_of[p["id"]]
            for label, score in p["scores"].items():
                if label not in index:
                    raise BackendError(f"{where}.scores: unknown label {label!r}.")
                if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score) \
                        or not 0.0 <= score <= 1.0:
                    raise BackendError(f"{where}.scores.{label}: must be a probability between 0 and 1.")
                probs[row, index[label]] = score
            seen[row] = True
        self._all_seen(seen, ids)
        if self.task_type != "multi_label":
            totals = probs.sum(axis=1, keepdims=True)
            probs = np.divide(probs, totals, out=np.zeros_like(probs), where=totals > 0)
        return Probabilities(classes=list(self.labels), probs=probs, ok=seen)
