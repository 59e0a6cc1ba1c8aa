"""Parquet uploads: one item per row, read a batch of rows at a time (`ParquetFile.iter_batches`).

Rows are numbered from 1 (a Parquet file has no header row). Two shapes are read:

- **Records**: a file with a `data` column (a struct, or JSON text of an object) holds full records
  as our JSON Lines and Parquet exports write them: `data`, `external_id`, `gold`, `annotations`,
  `prediction`, and the final value either as a `final` struct (`{"value", "source", "at", "by"}`, as
  a Hugging Face dataset of JSON Lines records has it) or flat as our Parquet and CSV exports write it
  (`final_value`, `final_source`, `final_at`, `final_by`). Nested parts may also be JSON text. `id`,
  `status`, `reviews`, `review_reason`, `needed`, `created_at` and `answers` are ignored, as in JSON.
- **Flat rows**: otherwise the columns are the data, with the options CSV has: `text_column` (stored as
  "text"), `columns`, `label_column` (+ `labels_as`); `external_id` (and, without `columns`, `gold`)
  are taken out of the data as in a flat JSON record. A label column that Hugging Face `datasets`
  wrote as a `ClassLabel` (integer ids, the names in the file's metadata) is read as its names. A
  "labels" dataset the SDK saved names its data columns in its metadata: without `columns`, only those
  go into the data (not its `id` and `source`).

A null is taken as absent: Arrow gives a struct every field in every row, filling the keys a row did
not have with nulls, so keys whose value is null are dropped from data and label values (at every
level of nesting) before they are checked; a null cell of a flat row leaves that key out of the data.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, BinaryIO

import orjson

from dataio.readers.csv_rows import _REQUIRED
from dataio.readers.options import ReadOptions, require_annotator, with_label
from dataio.records import Record, RecordError, Schema, make_record

MAGIC = b"PAR1"
BATCH_ROWS = 2000
# Set by our export in the file's key-value metadata (see dataio/export/parquet.py).
METADATA_KEY = b"hitl"
# Set by the SDK's `save_dataset` on a "labels" dataset: which of its columns hold the items' data (the
# others are the item id, the label and its source), so such a file imports back without naming them.
SDK_METADATA_KEY = b"hitl_sdk"
_FINAL_COLUMNS = ("final_value", "final_source", "final_at", "final_by")


def read_parquet(stream: BinaryIO, schema: Schema, options: ReadOptions) -> Iterator[Record]:
    """Records of a Parquet upload; `RecordError` names the column or the row. Checks the file's
    columns before the first record is asked for (an unusable file or option is refused at once)."""
    import pyarrow.parquet as pq  # a server dependency, loaded only when a Parquet file comes

    require_annotator(options)
    try:
        parquet = pq.ParquetFile(stream)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for what is not Parquet
        raise RecordError(None, "file", f"not a readable Parquet file ({_short(exc)})") from None
    names = list(parquet.schema_arrow.names)
    index = set(names)

    def missing(name: str) -> RecordError:
        return RecordError(None, name, f"the Parquet file has no {name!r} column (columns: {', '.join(names)})")

    if options.label_column is not None and options.label_column not in index:
        raise missing(options.label_column)
    metadata = parquet.schema_arrow.metadata or {}
    if options.columns is None:
        options = replace(options, columns=_sdk_data_columns(metadata, index))
    records = options.columns is None and "data" in index and options.text_column not in index
    if options.columns is not None:
        for name in options.columns:
            if name not in index:
                raise missing(name)
    elif not records:
        required = _REQUIRED.get(schema.task_type, (options.text_column,))
        if schema.task_type in ("classification", "multi_label") and options.text_column not in index \
                and "image" in index:
            required = ("image",)
        for name in required:
            if name not in index:
                raise missing(name)
    names_of_ids = _class_names(metadata, options.label_column) if options.label_column else None
    return _rows(parquet, schema, options, records, METADATA_KEY in metadata, names_of_ids)


def _sdk_data_columns(metadata: Mapping[bytes, bytes], index: set[str]) -> list[str] | None:
    """The data columns the SDK recorded in a "labels" dataset it saved; None for any other file."""
    try:
        info = orjson.loads(metadata[SDK_METADATA_KEY])
        columns = info["data_columns"] if info.get("kind") == "labels" else None
    except (KeyError, AttributeError, TypeError, orjson.JSONDecodeError):
        return None
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c in index for c in columns):
        return None
    return columns


def _class_names(metadata: Mapping[bytes, bytes], column: str) -> list[str] | None:
    """The label names of a column that Hugging Face `datasets` wrote as a `ClassLabel` (ids 0, 1, ...
    standing for names), from the features it keeps in the file's metadata; None for any other column."""
    try:
        features = orjson.loads(metadata[b"huggingface"])["info"]["features"]
        feature = features[column]
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if not isinstance(feature, dict) or feature.get("_type") != "ClassLabel":
        return None
    names = feature.get("names")
    return [str(n) for n in names] if isinstance(names, list) else None


def _rows(parquet: Any, schema: Schema, options: ReadOptions, records: bool, ours: bool,
          class_names: list[str] | None) -> Iterator[Record]:
    number = 0
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:
            raise RecordError(number + 1, None, f"unreadable Parquet data ({_short(exc)})", unit="row") from None
        if batch is None:
            return
        for row in batch.to_pylist():
            number += 1
            label = None
            if options.label_column is not None:
                row = dict(row)
                label = row.pop(options.label_column)
                if isinstance(label, (dict, list)):
                    label = pruned(label)
                elif class_names is not None and isinstance(label, int) and not isinstance(label, bool):
                    # -1 is a ClassLabel's "no label"; other ids out of range are left for validation to name
                    label = None if label == -1 else class_names[label] if 0 <= label < len(class_names) else label
            record = _record(row, number, schema, ours) if records else _flat(row, number, schema, options)
            if label is not None:
                record = with_label(record, label, options.label_column or "", schema, options)
            yield record


def pruned(value: Any) -> Any:
    """`value` without the keys whose value is null, at every level (what Arrow added to structs)."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def _flat(row: dict, number: int, schema: Schema, options: ReadOptions) -> Record:
    external_id = row.get("external_id")
    gold = None
    if options.columns is not None:
        data = {_key(name, options): row[name] for name in options.columns if row[name] is not None}
    else:
        data = {_key(name, options): value for name, value in row.items()
                if value is not None and name not in ("external_id", "gold")}
        gold = _decoded(row.get("gold"), "gold", number)
    return make_record(number, schema, pruned(data), external_id=external_id, gold=pruned(gold), unit="row")


def _key(column: str, options: ReadOptions) -> str:
    """The data key of a column: the text column is always stored as "text"."""
    return "text" if column == options.text_column else column


def _decoded(value: Any, field: str, number: int) -> Any:
    """A nested part as the row has it: a struct or list, or JSON text of one."""
    if isinstance(value, (str, bytes)):
        if not value:
            return None
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RecordError(number, field, "must be JSON (as the export writes it)", unit="row") from None
    return value


def _record(row: dict, number: int, schema: Schema, ours: bool) -> Record:
    data = _decoded(row.get("data"), "data", number)
    if data is None:
        raise RecordError(number, "data", "is required", unit="row")
    final = _decoded(row.get("final"), "final", number)
    if final is None and row.get("final_source"):
        final = {"value": _decoded(row.get("final_value"), "final_value", number), "source": row["final_source"],
                 "at": row.get("final_at"), "by": row.get("final_by")}
    if isinstance(final, Mapping) and final.get("source") is None:
        final = None  # a struct of nulls: no final value
    annotations = _decoded(row.get("annotations"), "annotations", number)
    if isinstance(annotations, list):
        annotations = [_annotation(a, k, number) for k, a in enumerate(annotations)]
    prediction = _decoded(row.get("prediction"), "prediction", number)
    if isinstance(prediction, Mapping):
        prediction = _prediction(prediction, number, ours)
    return make_record(number, schema, pruned(data), external_id=row.get("external_id"),
                       gold=pruned(_decoded(row.get("gold"), "gold", number)), final=pruned(final),
                       annotations=annotations or None, prediction=prediction, unit="row")


def _annotation(raw: Any, k: int, number: int) -> Any:
    if not isinstance(raw, Mapping):
        return raw  # make_record names it
    out = {key: v for key, v in raw.items() if v is not None}
    if "value" in out:
        out["value"] = pruned(_decoded(out["value"], f"annotations[{k}].value", number))
    return out


def _prediction(raw: Mapping, number: int, ours: bool) -> dict | None:
    out = {key: v for key, v in raw.items() if v is not None}
    if not out:
        return None  # a struct of nulls: no prediction
    if "value" in out:
        out["value"] = pruned(_decoded(out["value"], "prediction.value", number))
    if "scores" in out:
        out["scores"] = pruned(_decoded(out["scores"], "prediction.scores", number))
    version = out.get("model_version")
    if ours and isinstance(version, str) and version.isdigit():
        out["model_version"] = int(version)  # our export writes every version as text; ours are numbers
    return out


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
