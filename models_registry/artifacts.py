"""Trained models on disk: one file per model version under MEDIA_ROOT/models/."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings

from models_registry.backends import BackendError


def relative_path(project_id: int, version: int) -> str:
    return f"models/project-{project_id}/v{version}.joblib"


def save(model: Any, relative: str) -> int:
    """Write the model atomically (temporary file, then rename); return its size in bytes."""
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    return path.stat().st_size


def load(relative: str) -> Any:
    """Read a stored model, or raise `BackendError` if it is missing or unreadable."""
    path = Path(settings.MEDIA_ROOT) / relative
    if not relative or not path.exists():
        raise BackendError(f"The model file {relative!r} is missing.")
    try:
        return joblib.load(path)
    except Exception as exc:  # damaged bytes fail to unpickle with nearly anything (struct.error, zlib.error...)
        raise BackendError(f"The model file {relative!r} is corrupt: {str(exc) or type(exc).__name__}") from None
