"""Built-in text model: TF-IDF word and character n-grams + calibrated logistic regression."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from models_registry.backends import text_features
from models_registry.backends.base import Backend, Probabilities
from models_registry.backends.sklearn_common import check_trainable, classifier, encode_targets, probabilities


def _texts(data: list[dict]) -> list[str]:
    return [str(d.get("text", "")) for d in data]


class TextBackend(Backend):
    name = "builtin_text"

    def fit(self, data: list[dict], targets: list[Any]) -> Any:
        check_trainable(self.task_type, targets)
        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                      max_features=200_000)),
        ])
        pipeline = Pipeline([("features", features), ("clf", classifier(self.task_type, targets))])
        pipeline.fit(_texts(data), encode_targets(self.task_type, self.labels, targets))
        return pipeline

    def predict(self, model: Any, data: list[dict]) -> Probabilities:
        ok = np.ones(len(data), dtype=bool)
        if text_features.supported_union(model):  # the same features, computed in bulk (pre-labeling speed)
            features = text_features.union_transform(model.steps[0][1], _texts(data))
            return probabilities(model.steps[-1][1], features, self.labels, self.task_type, ok)
        return probabilities(model, _texts(data), self.labels, self.task_type, ok)
