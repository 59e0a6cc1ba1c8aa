"""The pixel size of an item's image, for formats that need it (COCO, Label Studio's percentages)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def local_path(url) -> Path | None:
    """The file behind an uploaded image's URL (under MEDIA_URL, inside MEDIA_ROOT), or None."""
    media_url = settings.MEDIA_URL
    if not isinstance(url, str) or not url.startswith(media_url):
        return None
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / url[len(media_url):]).resolve()
    return path if root in path.parents else None


def image_size(data: Mapping) -> tuple[float, float] | None:
    """(width, height) in pixels: `data.width` and `data.height` when the item has them, else read
    from the header of an uploaded image file; None when neither is known (e.g. a remote URL)."""
    width, height = data.get("width"), data.get("height")
    if _positive(width) and _positive(height):
        return width, height
    path = local_path(data.get("image"))
    if path is None:
        return None
    try:
        # Opening reads the header only; the pixels are never decoded.
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None
