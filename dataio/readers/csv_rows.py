"""CSV uploads: a header row, then one item per row; every cell is a string.

Rows are numbered by the file's line numbers, the header being line 1 (a row whose quoted cell
spans lines is named by the line it starts on). The CSV of our own export (its header has "data",
"final_value", "final_source", "annotations", ...) is read back as export records, its JSON cells
decoded (its "reviews", "status", "review_reason", "needed" and "created_at" are ignored, as in JSON).
"""
from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from dataio.readers.options import ReadOptions, require_annotator, with_label
from dataio.records import Record, RecordError, Schema, make_record

# Python's csv refuses fields above 128 KiB by default; a long document is a fair item.
MAX_FIELD_CHARS = 64 * 1024 * 1024
# What a task type shows, when the upload does not choose the columns.
_REQUIRED = {"pairwise": ("prompt", "a", "b"), "boxes": ("image",)}
_EXPORT_COLUMNS = {"data", "final_value", "final_source", "annotations"}


def read_csv(stream: BinaryIO, schema: Schema, options: ReadOptions) -> Iterator[Record]:
    """Records of a CSV upload (UTF-8, optional BOM); `RecordError` names the column or the row."""
    require_annotator(options)
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(codecs.iterdecode(stream, "utf-8-sig"))
    try:
        header = next(reader, None)
    except UnicodeDecodeError:
        raise RecordError(1, None, "the file is not UTF-8 text", unit="row") from None
    except csv.Error as exc:
        raise RecordError(1, None, f"malformed CSV: {exc}", unit="row") from None
    if not header or not any(h.strip() for h in header):
        raise RecordError(None, "file", "the CSV file has no header row")
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise RecordError(None, "file", f"the CSV header names the column {name!r} twice")
        seen.add(name)
    index = {name: i for i, name in enumerate(header) if name}

    def missing(name: str) -> RecordError:
        columns = ", ".join(h for h in header if h)
        return RecordError(None, name, f"the CSV has no {name!r} column (columns: {columns})")

    label_index, label_column = None, options.label_column or ""
    if options.label_column is not None:
        if options.label_column not in index:
            raise missing(options.label_column)
        label_index = index[options.label_column]
    export = options.columns is None and _EXPORT_COLUMNS <= index.keys() and options.text_column not in index
    if export:
        chosen: list[tuple[str, int]] = []
    elif options.columns is not None:
        for name in options.columns:
            if name not in index:
                raise missing(name)
        chosen = [(_key(name, options), index[name]) for name in options.columns]
    else:
        required = _REQUIRED.get(schema.task_type, (options.text_column,))
        if schema.task_type == "classification" or schema.task_type == "multi_label":
            if options.text_column not in index and "image" in index:
                required = ("image",)
        for name in required:
            if name not in index:
                raise missing(name)
        skip = {"external_id", options.label_column}
        chosen = [(_key(name, options), i) for name, i in index.items() if name not in skip]
    id_index = index.get("external_id")
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except UnicodeDecodeError:
            raise RecordError(start, None, "the file is not UTF-8 text", unit="row") from None
        except csv.Error as exc:
            raise RecordError(start, None, f"malformed CSV: {exc}", unit="row") from None
        if row is None:
            return
        line = start
        if not row:
            continue  # a blank line
        if len(row) != width:
            raise RecordError(line, None, f"has {len(row)} cells; the header has {width}", unit="row")
        if export:
            record = _export_row(row, index, line, schema)
        else:
            record = make_record(line, schema, {key: row[i] for key, i in chosen},
                                 external_id=row[id_index] if id_index is not None else None, unit="row")
        if label_index is not None:
            record = with_label(record, row[label_index], label_column, schema, options)
        yield record


def _key(column: str, options: ReadOptions) -> str:
    """The data key of a column: the text column is always stored as "text"."""
    return "text" if column == options.text_column else column


def _export_row(row: list[str], index: dict[str, int], line: int, schema: Schema) -> Record:
    def cell(name: str) -> str:
        return row[index[name]] if name in index else ""

    def decoded(name: str) -> Any:
        text = cell(name)
        if not text:
            return None
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            raise RecordError(line, name, "must be JSON (as the export writes it)", unit="row") from None

    final = None
    if cell("final_source"):
        final = {"value": decoded("final_value"), "source": cell("final_source"), "at": cell("final_at") or None,
                 "by": cell("final_by") or None}
    prediction_value = decoded("prediction_value")
    prediction = None
    if prediction_value is not None:
        confidence: Any = cell("prediction_confidence") or None
        if confidence is not None:
            try:
                confidence = float(confidence)
            except ValueError:
                raise RecordError(line, "prediction_confidence", "must be a number", unit="row") from None
        prediction = {"value": prediction_value, "confidence": confidence,
                      "model_version": cell("model_version") or None, "scores": decoded("prediction_scores")}
    return make_record(line, schema, decoded("data"), external_id=cell("external_id") or None,
                       gold=decoded("gold"), final=final, annotations=decoded("annotations"),
                       prediction=prediction, unit="row")
