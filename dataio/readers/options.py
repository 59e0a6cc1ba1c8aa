"""What an import should make of a file: `ReadOptions`, and pre-existing labels turned into values."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from dataio.records import ImportedAnnotation, ImportedPrediction, Record, RecordError, Schema, validated

FORMATS = ("json", "jsonl", "csv", "parquet", "zip", "image", "label_studio")
LABELS_AS = ("gold", "annotations", "predictions")


@dataclass(frozen=True)
class ReadOptions:
    """How to read an upload.

    `format`: one of FORMATS, or None to choose by the file's extension.
    `text_column`: CSV or Parquet column holding the text (stored as data "text").
    `columns`: CSV or Parquet columns that go into the data; default all but external_id and `label_column`.
    `label_column`: CSV or Parquet column or flat-JSON key holding a pre-existing label ("pos" becomes
    {"label": "pos"}; for multi_label a JSON list or "a;b" / "a|b").
    `labels_as`: what pre-existing labels become: "gold", "annotations" (by `annotator`) or "predictions".
    `annotator`: username that imported annotations are attributed to when the file does not say.
    """

    format: str | None = None
    text_column: str = "text"
    columns: list[str] | None = None
    label_column: str | None = None
    labels_as: str = "gold"
    annotator: str | None = None

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise OptionsError("format", f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.labels_as not in LABELS_AS:
            raise OptionsError("labels_as", f"must be one of {', '.join(LABELS_AS)}")
        if self.annotator is not None and (not isinstance(self.annotator, str) or not self.annotator.strip()
                                           or "\x00" in self.annotator):
            raise OptionsError("annotator", "must be a username")
        if not isinstance(self.text_column, str) or not self.text_column.strip():
            raise OptionsError("text_column", "must be a column name")
        if self.columns is not None and (not isinstance(self.columns, list) or not self.columns
                                         or not all(isinstance(c, str) and c for c in self.columns)):
            raise OptionsError("columns", "must be a non-empty list of column names")


class OptionsError(RecordError):
    """Options that cannot work whatever the file holds (a `RecordError` about no record)."""

    def __init__(self, field: str, message: str):
        super().__init__(None, field, message)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def require_annotator(options: ReadOptions) -> None:
    """Labels from a column become annotations only with someone to attribute them to."""
    if options.label_column and options.labels_as == "annotations" and not options.annotator:
        raise RecordError(None, "annotator", "labels imported as annotations need an annotator (a username)")


def label_value(raw: Any, schema: Schema) -> dict | Any | None:
    """The value a label cell or key stands for; None when it is empty.

    Objects pass through (they are checked as values); other task types than classification and
    multi_label need an object.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, dict):
        return raw
    if schema.task_type == "classification":
        return {"label": raw.strip() if isinstance(raw, str) else raw}
    if schema.task_type == "multi_label":
        if isinstance(raw, list):
            return {"labels": raw}
        if isinstance(raw, str):
            text = raw.strip()
            if text.startswith("["):
                try:
                    return {"labels": orjson.loads(text)}
                except orjson.JSONDecodeError:
                    pass
            sep = ";" if ";" in text else "|"
            return {"labels": [part.strip() for part in text.split(sep) if part.strip()]}
        return {"labels": raw}
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw  # validation names the field and what it should be


def with_label(record: Record, raw: Any, field: str, schema: Schema, options: ReadOptions) -> Record:
    """`record` with the pre-existing label `raw` (from column/key `field`) as `options.labels_as` says."""
    value = label_value(raw, schema)
    if value is None:
        return record
    try:
        value = validated(schema, value, record.data, field, record.number, record.unit)
    except RecordError as exc:
        if exc.field == f"{field}.label":  # the cell is the label: name the column, not "label.label"
            raise RecordError(exc.record, field, exc.message, unit=exc.unit) from None
        raise
    if options.labels_as == "annotations":
        if any(a.user == options.annotator for a in record.annotations):
            raise RecordError(record.number, field, f"{options.annotator!r} already annotated this record",
                              unit=record.unit)
        annotation = ImportedAnnotation(user=options.annotator or "", value=value)
        return dataclasses.replace(record, annotations=record.annotations + (annotation,))
    if options.labels_as == "predictions":
        if record.prediction is not None:
            raise RecordError(record.number, field, "the record already has a prediction", unit=record.unit)
        return dataclasses.replace(record, prediction=ImportedPrediction(value=value, confidence=None))
    if record.gold is not None and record.gold != value:
        raise RecordError(record.number, field, "differs from the record's gold", unit=record.unit)
    if record.final is not None:
        raise RecordError(record.number, field, "the record already has a final value", unit=record.unit)
    return dataclasses.replace(record, gold=value)
