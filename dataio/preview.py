"""What an import would make of an upload, without storing anything: the format, a CSV's columns,
the first records as they would be stored, or the first error with its line, row, record or entry.

The records come from the same readers the import uses (`dataio.readers.read`), so the preview and
the import can never disagree. Images (a zip or image files) are checked and written to a temporary
folder that is removed again; the database is only read (external ids the project already has).

A browser previews a large text file by sending its first bytes (`partial`): JSON Lines and CSV are
then cut after the last whole line, and a JSON syntax error met only after the end of the cut-off data
is taken for the cut, not for a fault of the file (a real one further on still stops the import).
"""
from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, TypedDict

from django.conf import settings

from dataio.readers import ImageStore, ReadOptions, RecordError, format_of, read
from dataio.readers.json_stream import iter_array_values, iter_jsonl_values
from dataio.readers.label_studio import looks_like_label_studio
from dataio.records import Record, Schema
from tasks.models import Item, Project

PREVIEW_RECORDS = 10
# The most of a cut-off text file (`partial`) the preview reads: its first records are in here.
MAX_PARTIAL_BYTES = 4 * 1024 * 1024
_TEXT_FORMATS = ("json", "jsonl", "csv", "label_studio")


class PreviewError(TypedDict):
    detail: str
    unit: str  # "line", "row", "record", "entry" or "file"
    number: int | None
    field: str | None
    message: str


class Preview(TypedDict):
    format: str | None
    columns: list[str] | None  # CSV: the header's column names, in order
    header_bytes: int | None  # CSV: the header row's length in bytes (with its BOM and line break)
    records: list[dict]
    more: bool  # more records follow those shown (or may: the data was cut off)
    error: PreviewError | None


def record_view(record: Record) -> dict:
    """A record as the import would store it: its data, external id and any labels it brings."""
    return {
        "unit": record.unit, "number": record.number, "data": record.data, "external_id": record.external_id,
        "gold": record.gold,
        "prediction": None if record.prediction is None else {
            "value": record.prediction.value, "confidence": record.prediction.confidence,
            "model_version": record.prediction.model_version},
        "annotations": [{"user": a.user, "value": a.value, "skipped": a.skipped} for a in record.annotations],
        "final": None if record.final is None else {
            "value": record.final.value, "source": record.final.source, "by": record.final.by},
    }


def error_view(exc: RecordError) -> PreviewError:
    return {"detail": f"Nothing would be imported. {exc}", "unit": exc.unit if exc.record is not None else "file",
            "number": exc.record, "field": exc.field, "message": exc.message}


class _Cut(io.BytesIO):
    """The first bytes of a longer file, noting whether a reader asked for more than there is."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name
        self.exhausted = False

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data and size != 0:
            self.exhausted = True
        return data


def csv_header(head: bytes) -> tuple[list[str], int] | None:
    """The column names of a CSV's first row and that row's length in bytes; None if it has none.

    Read with the csv module as `dataio.readers.csv_rows` reads it (UTF-8 with an optional BOM).
    """
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for n, line in enumerate(head.splitlines(keepends=True)):
            consumed += len(line)
            yield line.decode("utf-8-sig" if n == 0 else "utf-8")

    try:
        row = next(csv.reader(lines()), None)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not row:
        return None
    return [name.strip() for name in row], consumed


def _cut(upload: BinaryIO, name: str, fmt: str) -> _Cut:
    """The beginning of a longer text file: whole lines only, for the formats read line by line."""
    data = upload.read(MAX_PARTIAL_BYTES)
    if fmt in ("jsonl", "csv") or name.lower().endswith((".jsonl", ".ndjson")):
        data = data[:data.rfind(b"\n") + 1] or data
    return _Cut(data, name)


def _detected(stream: BinaryIO, fmt: str, name: str, options: ReadOptions) -> str:
    """The format the readers take the file for: JSON whose first record is a Label Studio task is one."""
    if fmt not in ("json", "jsonl") or options.format == "label_studio":
        return fmt
    values = iter_jsonl_values(stream) if fmt == "jsonl" else iter_array_values(stream)
    try:
        first = next(values, None)
    except RecordError:
        first = None  # reading the records says what is wrong
    stream.seek(0)
    return "label_studio" if first is not None and looks_like_label_studio(first[1]) else fmt


def preview(project: Project, uploads: list[BinaryIO], options: ReadOptions, *, on_duplicate: str = "error",
            partial: bool = False, limit: int = PREVIEW_RECORDS) -> Preview:
    """The first `limit` records of the uploads (file objects with a `name`) as the import would read them.

    Stores nothing. `partial`: the last upload is the beginning of a longer file. A bad record does not
    raise: it is the preview's `error`, with the records before it.
    """
    schema = Schema(task_type=project.task_type, labels=list(project.labels), questions=tuple(project.questions or ()))
    result: Preview = {"format": None, "columns": None, "header_bytes": None, "records": [], "more": partial,
                       "error": None}
    records: list[Record] = []
    folder = tempfile.mkdtemp(prefix="hitl-preview-")
    try:
        store = ImageStore(root=folder, url=settings.MEDIA_URL)
        _read(project, schema, uploads, options, on_duplicate, partial, limit, store, records, result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the images checked, never kept
    result["records"] = [record_view(r) for r in records]
    return result


def _read(project: Project, schema: Schema, uploads: list[BinaryIO], options: ReadOptions, on_duplicate: str,
          partial: bool, limit: int, store: ImageStore, records: list[Record], result: Preview) -> None:
    cut: _Cut | None = None
    try:
        for n, upload in enumerate(uploads):
            name = getattr(upload, "name", None) or ""
            fmt = format_of(name, options, upload)
            stream = upload
            if partial and n == len(uploads) - 1 and fmt in _TEXT_FORMATS:
                stream = cut = _cut(upload, name, fmt)
            if fmt == "csv" and result["columns"] is None:
                header = csv_header(stream.read(64 * 1024))
                stream.seek(0)
                if header is not None:
                    result["columns"], result["header_bytes"] = header
            if result["format"] is None:
                result["format"] = _detected(stream, fmt, name, options)
            for record in read(stream, name, schema, options, media=store):
                if len(records) == limit:
                    result["more"] = True
                    break
                records.append(record)
            if result["more"] and len(records) == limit:
                break
        _check_duplicates(project, records, on_duplicate)
    except RecordError as exc:
        # A JSON array cut off mid-record: the syntax error comes from reading past the cut.
        if not (cut is not None and cut.exhausted and exc.field is None and exc.unit == "line"):
            result["error"] = error_view(exc)


def _check_duplicates(project: Project, records: list[Record], on_duplicate: str) -> None:
    """The first previewed record whose external id the project has, as the import (on_duplicate=error) says."""
    if on_duplicate != "error":
        return
    ids = [r.external_id for r in records if r.external_id]
    if not ids:
        return
    existing = set(Item.objects.filter(project=project, external_id__in=ids).values_list("external_id", flat=True))
    for r in records:
        if r.external_id in existing:
            raise RecordError(r.number, "external_id", f"{r.external_id!r} already exists in this project "
                                                       f"(choose on_duplicate=skip or update)", unit=r.unit)
