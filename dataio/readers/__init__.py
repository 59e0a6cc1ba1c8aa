"""Every supported upload format as a stream of validated `Record`s, in constant memory.

    read(stream, filename, schema, options, media=store) -> Iterator[Record]

The reader is chosen by `options.format`, else by the file's extension: `.json` (an array of
records, streamed; Label Studio's export shape is recognised by its first task), `.jsonl` /
`.ndjson`, `.csv`, `.parquet` (or a file starting with Parquet's magic bytes `PAR1`), `.zip` (of images)
and single image files. Pure parsing and safe file handling,
no ORM; every error is a `RecordError` naming the record, line, row or zip entry and the field.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from dataio.readers.csv_rows import read_csv
from dataio.readers.images import IMAGE_EXTENSIONS, ImageStore, read_image, read_zip
from dataio.readers.json_stream import iter_array_values, iter_jsonl_values
from dataio.readers.label_studio import looks_like_label_studio, read_label_studio
from dataio.readers.options import FORMATS, LABELS_AS, OptionsError, ReadOptions, require_annotator, with_label
from dataio.readers.parquet import MAGIC as PARQUET_MAGIC
from dataio.readers.parquet import read_parquet
from dataio.records import Record, RecordError, Schema, parse_record

__all__ = ["FORMATS", "LABELS_AS", "ImageStore", "OptionsError", "ReadOptions", "RecordError", "format_of", "read",
           "records_of_values"]

_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".zip": "zip",
               ".parquet": "parquet", ".pq": "parquet"} | {
    ext: "image" for ext in IMAGE_EXTENSIONS}


def format_of(filename: str, options: ReadOptions | None = None, stream: BinaryIO | None = None) -> str:
    """The format a file is read as: `options.format`, else by extension, else (given the seekable
    `stream`) Parquet by its magic bytes; `RecordError` if none fits."""
    if options is not None and options.format is not None:
        return options.format
    fmt = _EXTENSIONS.get(PurePosixPath(filename.lower().replace("\\", "/")).suffix)
    if fmt is None and stream is not None and _head(stream) == PARQUET_MAGIC:
        fmt = "parquet"
    if fmt is None:
        raise RecordError(None, "file", f"unsupported file type {filename!r}; use .json, .jsonl, .csv, .parquet, "
                                        f".zip or an image ({' '.join(IMAGE_EXTENSIONS)})")
    return fmt


def _head(stream: BinaryIO) -> bytes:
    """The first 4 bytes of a seekable stream, leaving its position as it was."""
    try:
        position = stream.tell()
        stream.seek(0)
        head = stream.read(len(PARQUET_MAGIC))
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return b""
    return head if isinstance(head, bytes) else b""


def read(stream: BinaryIO, filename: str, schema: Schema, options: ReadOptions | None = None, *,
         media: ImageStore | None = None) -> Iterator[Record]:
    """The records of an upload, one at a time; raises `RecordError` at the first bad one.

    `media` stores uploaded images (formats "zip" and "image"); the caller discards or keeps it.
    An unsupported file or options that cannot work are refused at once (bad option values already
    when `ReadOptions` is made); the file itself is read as the iterator is consumed.
    """
    options = options or ReadOptions()
    fmt = format_of(filename, options, stream)
    if fmt == "parquet":
        return read_parquet(stream, schema, options)
    if fmt in ("zip", "image"):
        if media is None:
            raise TypeError("reading images needs an ImageStore (media=...)")
        if fmt == "zip":
            return read_zip(stream, schema, options, media)
        return read_image(stream, filename, schema, options, media)
    if fmt == "csv":
        require_annotator(options)  # now, not when the first row is read
        return read_csv(stream, schema, options)
    lines = fmt == "jsonl" or (fmt == "label_studio" and filename.lower().endswith((".jsonl", ".ndjson")))
    unit = "line" if lines else "record"
    values = iter_jsonl_values(stream) if lines else iter_array_values(stream)
    return records_of_values(values, schema, options, unit)


def records_of_values(values: Iterable[tuple[int, Any]], schema: Schema, options: ReadOptions,
                      unit: str = "record") -> Iterator[Record]:
    """Records of decoded JSON values numbered by `unit` (a JSON body, array or JSON Lines).

    Label Studio tasks are recognised by the first value (or taken as such with format
    "label_studio"); `options.label_column` takes labels out of flat records.
    """
    require_annotator(options)
    return _json_records(iter(values), schema, options, unit)


def _json_records(values: Iterator[tuple[int, Any]], schema: Schema, options: ReadOptions,
                  unit: str) -> Iterator[Record]:
    first = next(values, None)
    if first is None:
        return
    values = itertools.chain([first], values)
    if options.format == "label_studio" or looks_like_label_studio(first[1]):
        yield from read_label_studio(values, schema, options, unit)
    elif options.label_column:
        yield from _labelled(values, schema, options, unit)
    else:
        for number, raw in values:
            yield parse_record(raw, number, schema, unit)


def _labelled(values: Iterable[tuple[int, Any]], schema: Schema, options: ReadOptions, unit: str) -> Iterator[Record]:
    """Records whose label sits under `options.label_column` (flat records, or beside "data")."""
    key = options.label_column or ""
    for number, raw in values:
        label = None
        if isinstance(raw, dict):
            if isinstance(raw.get("data"), dict):
                if key in raw:
                    raw = dict(raw)
                    label = raw.pop(key)
                elif key in raw["data"]:
                    raw = dict(raw, data=dict(raw["data"]))
                    label = raw["data"].pop(key)
            elif key in raw:
                raw = dict(raw)
                label = raw.pop(key)
        record = parse_record(raw, number, schema, unit)
        yield with_label(record, label, key, schema, options) if label is not None else record
