"""A team's own model (or an LLM) behind an HTTP endpoint.

Protocol: the platform POSTs `{"task_type", "labels", "items": [{"id", "data"}, ...]}` and expects
`{"predictions": [{"id": <item id>, "scores": {"<label>": <probability>, ...}}, ...]}` with one
prediction per item. Anything else is a `BackendError` that names the problem.
"""
from __future__ import annotations

import math
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import orjson

from models_registry.backends.base import Backend, BackendError, Predictions, Probabilities


class ExternalHTTPBackend(Backend):
    name = "http"
    trainable = False

    def __init__(self, task_type: str, labels: list[str], url: str = "", timeout: float = 30.0):
        super().__init__(task_type, labels)
        self.url = url
        self.timeout = timeout

    def fit(self, data, targets):
        raise BackendError("This project uses an external model; train it where it runs.")

    def predict(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Probabilities:
        ids = ids if ids is not None else list(range(len(data)))
        body = orjson.dumps({"task_type": self.task_type, "labels": self.labels,
                             "items": [{"id": i, "data": d} for i, d in zip(ids, data)]})
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise BackendError(f"The model endpoint answered HTTP {exc.code}.") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"The model endpoint could not be reached: {reason}.") from None
        return self._parse(raw, ids)

    def predict_values(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Predictions:
        return self.from_probabilities(self.predict(model, data, ids=ids))

    def _parse(self, raw: bytes, ids: list[int]) -> Probabilities:
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BackendError("The model endpoint's answer is not JSON.") from None
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list):
            raise BackendError("The model endpoint's answer has no 'predictions' list.")
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
        if not seen.all():
            missing = [ids[i] for i in np.flatnonzero(~seen)[:5]]
            raise BackendError(f"The model endpoint gave no prediction for items {missing}.")
        if self.task_type != "multi_label":
            totals = probs.sum(axis=1, keepdims=True)
            probs = np.divide(probs, totals, out=np.zeros_like(probs), where=totals > 0)
        return Probabilities(classes=list(self.labels), probs=probs, ok=seen)
