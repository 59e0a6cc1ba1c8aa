"""Uploaded images: a .zip of images or single image files, stored safely under MEDIA_ROOT.

Each image is checked before anything is written: its path (no "..", no absolute path, nothing that
resolves outside the batch's folder), its declared and actual size, its compression ratio (zip
bombs), and its content (Pillow must identify it as one of the web's image formats and verify it,
within a pixel limit: image bombs). It is then written as
MEDIA_ROOT/uploads/<batch uuid>/<sanitised path><extension of its real format>, and becomes the
record {"data": {"image": MEDIA_URL + that path}, "external_id": its path in the zip}.

Entries are numbered by their position in the zip (from 1, directories included); errors name
the entry (unit "entry", field "file") and its path. Directories, `__MACOSX/` and dotfiles are
skipped. The importer calls `ImageStore.discard()` when the import fails, so no file stays behind,
and `ImageStore.keep()` when it succeeds.
"""
from __future__ import annotations

import io
import re
import shutil
import tempfile
import unicodedata
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from dataio.readers.options import ReadOptions
from dataio.records import Record, RecordError, Schema, make_record

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # settings.HITL_MAX_IMAGE_PIXELS
DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024  # settings.HITL_MAX_IMAGE_BYTES: one image, uncompressed
DEFAULT_MAX_ZIP_RATIO = 200  # settings.HITL_MAX_ZIP_RATIO: uncompressed / compressed size of one entry
DEFAULT_MAX_IMAGES_TOTAL_BYTES = 20 * 1024 ** 3  # settings.HITL_MAX_IMAGES_TOTAL_BYTES: one upload
_RATIO_FLOOR = 1024 * 1024  # small entries may compress as well as they like

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")
# The formats browsers show, and the extension each is stored with: the stored name never keeps an
# uploaded extension (a PNG named x.html would be served as HTML).
_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
            "TIFF": ".tif"}
_OPENERS = ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"]  # Pillow's plugins tried (JPEG also opens MPO)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DRIVE = re.compile(r"^[A-Za-z]:")
IMAGE_TASK_TYPES = ("classification", "multi_label", "boxes")


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


class ImageStore:
    """Where one import's images go: a new folder MEDIA_ROOT/uploads/<uuid>/, removed by `discard`."""

    def __init__(self, root: str | Path | None = None, url: str | None = None):
        self.root = Path(root if root is not None else settings.MEDIA_ROOT).resolve()
        self.batch = uuid.uuid4().hex
        self.folder = self.root / "uploads" / self.batch
        self.url = (url if url is not None else settings.MEDIA_URL).rstrip("/") + f"/uploads/{self.batch}/"
        self.max_pixels = _setting("HITL_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)
        self.max_bytes = _setting("HITL_MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES)
        self.max_ratio = _setting("HITL_MAX_ZIP_RATIO", DEFAULT_MAX_ZIP_RATIO)
        self.max_total = _setting("HITL_MAX_IMAGES_TOTAL_BYTES", DEFAULT_MAX_IMAGES_TOTAL_BYTES)
        self.written = 0  # images stored
        self.kept = False
        self._names: set[str] = set()

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and not self.kept:
            self.discard()

    def plan(self, name: str, number: int) -> PurePosixPath | None:
        """The safe relative path (without extension) an entry would get; None for entries to skip.

        Raises `RecordError` for a path that tries to leave the folder, before anything is written.
        """
        path = name.replace("\\", "/")
        if path.startswith("/") or _DRIVE.match(path):
            raise refuse(number, name, "is an absolute path")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise refuse(number, name, "leads out of the folder ('..')")
        if path.endswith("/") or not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            return None  # a directory, macOS metadata or a hidden file
        safe = [_safe_part(p) for p in parts]
        safe[-1] = _safe_part(PurePosixPath(safe[-1]).stem if PurePosixPath(safe[-1]).suffix else safe[-1])
        relative = PurePosixPath(*safe)
        target = (self.folder / relative).resolve()
        if not target.is_relative_to(self.folder.resolve()):
            raise refuse(number, name, "leads out of the folder")
        return relative

    def check(self, content: bytes, name: str, number: int) -> str:
        """The image's format if Pillow identifies and verifies it within the pixel limit."""
        try:
            with warnings.catch_warnings():
                # Pillow only warns between its own limit and twice it; either way it is refused.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(content), formats=_OPENERS) as image:
                    width, height = image.size
                    if width * height > self.max_pixels:
                        raise refuse(number, name, f"is {width}×{height} pixels; an image may have at most "
                                                   f"{self.max_pixels} (a decompression bomb?)")
                    kind = image.format or ""
                    image.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise refuse(number, name, f"has more pixels than allowed ({self.max_pixels}; a decompression bomb?)") \
                from None
        except RecordError:
            raise
        except UnidentifiedImageError:
            raise refuse(number, name, f"is not an image ({', '.join(_OPENERS)})") from None
        except Exception as exc:  # Pillow's decoders raise many kinds on broken files
            raise refuse(number, name, f"is a damaged image ({type(exc).__name__}: {exc})") from None
        return kind

    def save(self, relative: PurePosixPath, content: bytes, kind: str) -> str:
        """Write checked content under the planned path (made unique); its URL."""
        base = str(relative)
        candidate, n = base + _FORMATS[kind], 1
        while candidate.lower() in self._names:
            n += 1
            candidate = f"{base}-{n}{_FORMATS[kind]}"
        self._names.add(candidate.lower())
        path = self.folder / candidate
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:  # "x": never replaces a file
            out.write(content)
        self.written += 1
        return self.url + candidate

    def add(self, name: str, content: bytes, number: int) -> str | None:
        """Check and store one image named `name`; its URL, or None if the entry is skipped."""
        relative = self.plan(name, number)
        if relative is None:
            return None
        if len(content) > self.max_bytes:
            raise refuse(number, name, f"is {len(content)} bytes; an image may be at most {self.max_bytes}")
        return self.save(relative, content, self.check(content, name, number))

    def discard(self) -> None:
        """Remove every file this store wrote (call when the import fails)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.written = 0
        self._names.clear()

    def keep(self) -> None:
        """The import succeeded: the files stay."""
        self.kept = True


def refuse(number: int, name: str, message: str) -> RecordError:
    return RecordError(number, "file", f"{name!r} {message}", unit="entry")


def _safe_part(part: str) -> str:
    ascii_part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("_", ascii_part).strip("._-")[:100] or "image"


def _check_task_type(schema: Schema) -> None:
    if schema.task_type not in IMAGE_TASK_TYPES:
        raise RecordError(None, "file", f"a {schema.task_type} project takes text, not images")


def read_zip(stream: BinaryIO, schema: Schema, options: ReadOptions, store: ImageStore) -> Iterator[Record]:
    """Records of a .zip of images, each stored in `store` once checked."""
    _check_task_type(schema)
    seekable = getattr(stream, "seekable", None)
    if seekable is None or not seekable():
        spooled = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # zip needs to seek
        shutil.copyfileobj(stream, spooled)
        spooled.seek(0)
        stream = spooled  # type: ignore[assignment]  # a file object, as zipfile needs
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise RecordError(None, "file", "is not a valid zip file") from None
    total = 0
    with archive:
        for number, info in enumerate(archive.infolist(), start=1):
            name = info.filename
            relative = store.plan(name, number)
            if relative is None or info.is_dir():
                continue
            if info.file_size > store.max_bytes:
                raise refuse(number, name, f"is {info.file_size} bytes uncompressed; an image may be at most "
                                           f"{store.max_bytes}")
            if info.file_size > _RATIO_FLOOR and info.file_size > store.max_ratio * max(info.compress_size, 1):
                raise refuse(number, name, f"compresses {info.file_size // max(info.compress_size, 1)}:1, "
                                           "as only a zip bomb does")
            total += info.file_size
            if total > store.max_total:
                raise refuse(number, name, f"takes the upload past {store.max_total} bytes uncompressed")
            try:
                with archive.open(info) as entry:
                    # The declared size can lie; never read more than the limit allows.
                    content = entry.read(store.max_bytes + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError) as exc:
                raise refuse(number, name, f"cannot be read from the zip ({exc})") from None
            if len(content) > store.max_bytes:
                raise refuse(number, name, f"is more than {store.max_bytes} bytes; an image may be at most that")
            url = store.save(relative, content, store.check(content, name, number))
            yield make_record(number, schema, {"image": url}, external_id=name, unit="entry")


def read_image(stream: BinaryIO, filename: str, schema: Schema, options: ReadOptions,
               store: ImageStore) -> Iterator[Record]:
    """The one record of a single uploaded image file."""
    _check_task_type(schema)
    name = PurePosixPath(filename.replace("\\", "/")).name or "image"
    content = stream.read(store.max_bytes + 1)
    url = store.add(name, content, 1)
    if url is not None:
        yield make_record(1, schema, {"image": url}, external_id=name, unit="entry")
