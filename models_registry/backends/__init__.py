"""Model backends, registered by name. Each turns item data into class probabilities."""
from __future__ import annotations

from models_registry.backends.base import Backend, BackendError, Probabilities
from models_registry.backends.boxes import BoxBackend
from models_registry.backends.external_http import ExternalHTTPBackend
from models_registry.backends.image import ImageBackend
from models_registry.backends.pairwise import RewardBackend
from models_registry.backends.spans import SpansBackend
from models_registry.backends.text import TextBackend

BACKENDS: dict[str, type[Backend]] = {
    TextBackend.name: TextBackend,
    ImageBackend.name: ImageBackend,
    RewardBackend.name: RewardBackend,
    ExternalHTTPBackend.name: ExternalHTTPBackend,
    SpansBackend.name: SpansBackend,
    BoxBackend.name: BoxBackend,
}


def builtin_for(sample: dict) -> type[Backend]:
    """The built-in backend for items shaped like `sample` (image if it has one, else text)."""
    return ImageBackend if "image" in sample and "text" not in sample else TextBackend


__all__ = ["BACKENDS", "Backend", "BackendError", "Probabilities", "builtin_for"]
