"""Built-in image model: Pillow-decoded, resized greyscale pixels + calibrated logistic regression."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models_registry.backends.base import Backend, BackendError, Probabilities
from models_registry.backends.sklearn_common import check_trainable, classifier, encode_targets, probabilities

SIZE = 16  # images are scaled to SIZE x SIZE greyscale pixels


def image_path(url: str) -> Path | None:
    """The local file behind an item's image URL (uploaded media), or None."""
    media_url = settings.MEDIA_URL
    if not isinstance(url, str) or not url.startswith(media_url):
        return None
    path = (Path(settings.MEDIA_ROOT) / url[len(media_url):]).resolve()
    root = Path(settings.MEDIA_ROOT).resolve()
    return path if root in path.parents else None


def features(data: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel features of each item's image, and which images could be read."""
    out = np.zeros((len(data), SIZE * SIZE), dtype=np.float32)
    ok = np.zeros(len(data), dtype=bool)
    for i, d in enumerate(data):
        path = image_path(d.get("image"))
        if path is None:
            continue
        try:
            with Image.open(path) as img:
                pixels = img.convert("L").resize((SIZE, SIZE), Image.BILINEAR)
                out[i] = np.asarray(pixels, dtype=np.float32).ravel() / 255.0
                ok[i] = True
        except (OSError, UnidentifiedImageError):
            continue
    return out, ok


class ImageBackend(Backend):
    name = "builtin_image"

    def fit(self, data: list[dict], targets: list[Any]) -> Any:
        x, ok = features(data)
        if not ok.any():
            raise BackendError("None of the labeled items' images could be read.")
        kept = [t for t, good in zip(targets, ok) if good]
        check_trainable(self.task_type, kept)
        pipeline = Pipeline([("scale", StandardScaler()), ("clf", classifier(self.task_type, kept))])
        pipeline.fit(x[ok], encode_targets(self.task_type, self.labels, kept))
        return pipeline

    def predict(self, model: Any, data: list[dict]) -> Probabilities:
        x, ok = features(data)
        result = probabilities(model, x, self.labels, self.task_type, ok)
        result.probs[~ok] = 0.0
        return result
