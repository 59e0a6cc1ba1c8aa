"""Trained models on disk: one file per model version under MEDIA_ROOT/models/.

Each file's SHA-256 is kept with its version, so a damaged file is caught before it is used,
even where the damaged bytes would still unpickle.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings

from common.files import sha256_of
from models_registry.backends import BackendError


def relative_path(project_id: int, version: int) -> str:
    return f"models/project-{project_id}/v{version}.joblib"




def save(model: Any, relative: str) -> str:
    """Write the model atomically (temporary file, then rename), read it back; return its SHA-256."""
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    digest = sha256_of(path)
    load(relative, digest)  # a file that cannot be read back is never registered
    return digest


def load(relative: str, sha256: str = "") -> Any:
    """Read a stored model, or raise `BackendError` if it is missing, altered or unreadable."""
    path = Path(settings.MEDIA_ROOT) / relative
    if not relative or not path.exists():
        raise BackendError(f"The model file {relative!r} is missing.")
    if sha256 and sha256_of(path) != sha256:
        raise BackendError(f"The model file {relative!r} is corrupt: its checksum does not match the one "
                           f"recorded when it was trained.")
    try:
        return joblib.load(path)
    except Exception as exc:  # damaged bytes fail to unpickle with nearly anything (struct.error, zlib.error...)
        raise BackendError(f"The model file {relative!r} is corrupt: {str(exc) or type(exc).__name__}") from None
