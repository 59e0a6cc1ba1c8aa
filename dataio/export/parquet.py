"""Parquet: the records of our JSON Lines export as typed columns, for Hugging Face `datasets`, pandas,
DuckDB or Spark, and for importing back whole (`dataio/readers/parquet.py`).

    id: int64, external_id: string, status: string,
    data: struct<text: string, ...>                  # the fields of the project's items
    final_value: <value>, final_source: string, final_at: timestamp[us, UTC], final_by: string,
    gold: <value>,
    annotations: list<struct<user: string, value: <value>, skipped: bool, lead_time: double,
                             time: timestamp[us, UTC]>>,
    reviews: list<struct<reviewer: string, value: <value>, note: string, reason: string,
                         time: timestamp[us, UTC]>>,
    prediction: struct<model_version: string, value: <value>, confidence: double, scores: string (JSON)>,
    review_reason: string, needed: int64, created_at: timestamp[us, UTC]

`<value>` is one struct type for every label value of the file (e.g. `struct<label: string>` for
classification, `struct<spans: list<struct<start: int64, end: int64, label: string>>>` for spans).
The `data` and value types are inferred from the exported items in a first pass over them (the export
reads its items twice, from one snapshot); where items disagree (a field that is a number in one item
and text in another) that column holds JSON text instead, and the file's metadata (`hitl`) lists the
columns that are JSON text. A struct has every field in every row: a key an item lacks is null there
(the importer drops null keys again), and numbers that are integers in some items and not in others
become floating point. `prediction.scores` (probability per label, or per box or span) is JSON text,
and a model version is text ("4"; the importer reads digits as our model versions again).

Rows are written in row groups of `ROW_GROUP` items, each streamed out as soon as it is written,
so memory stays constant whatever the project's size.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from dataio.export.reading import Chunk

if TYPE_CHECKING:
    import pyarrow as pa

    from dataio.export import Spec

ROW_GROUP = 10_000
METADATA_KEY = b"hitl"  # = dataio.readers.parquet.METADATA_KEY


class _Drain(io.RawIOBase):
    """A write-only sink that hands out what was written since it was last drained, and keeps count of
    every byte for `tell()` (the Parquet footer records where each row group starts)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._parts.append(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _values(chunk: Chunk) -> Iterator[Any]:
    """Every label value of a chunk: final, gold, annotations', reviews' and predictions'."""
    for row in chunk.items:
        for text in (row.final_value_json, row.gold_json):
            if text is not None:
                yield orjson.loads(text)
        stored = _loads(row.prediction_json)
        if isinstance(stored, dict) and stored.get("value") is not None:
            yield stored["value"]
        for group in (chunk.annotations.get(row.id, ()), chunk.reviews.get(row.id, ())):
            for a in group:
                if a.value_json is not None:
                    yield orjson.loads(a.value_json)


def _storable(t: pa.DataType) -> bool:
    """Whether Parquet can hold `t` as it is (no struct without fields, no column of nulls only)."""
    import pyarrow as pa

    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_storable(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _storable(t.value_type)
    return not pa.types.is_null(t)


def _infer(spec: Spec) -> tuple[pa.DataType | None, pa.DataType | None]:
    """The struct types of `data` and of label values over all exported items; None where they
    cannot be one type (the column is then JSON text)."""
    import pyarrow as pa

    types: dict[str, pa.DataType | None] = {"data": pa.null(), "value": pa.null()}

    def merge(name: str, values: list) -> None:
        if types[name] is None or not values:
            return
        try:
            found = pa.array(values).type
            if not pa.types.is_struct(found):
                raise pa.ArrowTypeError("not an object")
            types[name] = pa.unify_schemas([pa.schema([("x", types[name])]), pa.schema([("x", found)])],
                                           promote_options="permissive").field("x").type
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            types[name] = None

    for chunk in spec.chunks():
        merge("data", [orjson.loads(row.data_json) for row in chunk.items])
        merge("value", list(_values(chunk)))
    return tuple(t if t is not None and _storable(t) else None for t in (types["data"], types["value"]))  # type: ignore[return-value]


def arrow_schema(data_type: pa.DataType | None, value_type: pa.DataType | None) -> pa.Schema:
    """The file's columns, given the types of `data` and of label values (None: JSON text)."""
    import pyarrow as pa

    text, time = pa.string(), pa.timestamp("us", tz="UTC")
    value = value_type or text
    json_columns = [name for name, t in (("data", data_type), ("final_value", value_type), ("gold", value_type),
                                          ("annotations.value", value_type), ("reviews.value", value_type),
                                          ("prediction.value", value_type)) if t is None]
    return pa.schema([
        ("id", pa.int64()), ("external_id", text), ("status", text), ("data", data_type or text),
        ("final_value", value), ("final_source", text), ("final_at", time), ("final_by", text), ("gold", value),
        ("annotations", pa.list_(pa.struct([("user", text), ("value", value), ("skipped", pa.bool_()),
                                            ("lead_time", pa.float64()), ("time", time)]))),
        ("reviews", pa.list_(pa.struct([("reviewer", text), ("value", value), ("note", text), ("reason", text),
                                        ("time", time)]))),
        ("prediction", pa.struct([("model_version", text), ("value", value), ("confidence", pa.float64()),
                                  ("scores", text)])),
        ("review_reason", text), ("needed", pa.int64()), ("created_at", time),
    ], metadata={METADATA_KEY: orjson.dumps({"format": "hitl-records", "version": 1,
                                             "json_columns": [*json_columns, "prediction.scores"]})})


def rows(chunk: Chunk, structured_data: bool, structured_values: bool) -> Iterator[dict]:
    """The Parquet rows of a chunk's items (JSON text where the type says so)."""
    def value(text: str | None) -> Any:
        if text is None:
            return None
        return orjson.loads(text) if structured_values else text

    for row in chunk.items:
        stored = _loads(row.prediction_json)
        prediction = None
        if isinstance(stored, dict):
            version = stored.get("model_version")
            scores = stored.get("scores")
            v = stored.get("value")
            prediction = {"model_version": None if version is None else str(version),
                          "value": v if structured_values or v is None else orjson.dumps(v).decode(),
                          "confidence": stored.get("confidence"),
                          "scores": orjson.dumps(scores).decode() if scores else None}
        yield {
            "id": row.id, "external_id": row.external_id, "status": row.status,
            "data": orjson.loads(row.data_json) if structured_data else row.data_json,
            "final_value": value(row.final_value_json) if row.final_source else None,
            "final_source": row.final_source or None, "final_at": row.final_at if row.final_source else None,
            "final_by": chunk.username(row.final_by_id) if row.final_source else None,
            "gold": value(row.gold_json),
            "annotations": [{"user": chunk.username(a.user_id), "value": value(a.value_json), "skipped": a.skipped,
                             "lead_time": a.lead_time, "time": a.created_at}
                            for a in chunk.annotations.get(row.id, ())],
            "reviews": [{"reviewer": chunk.username(r.reviewer_id), "value": value(r.value_json), "note": r.note,
                         "reason": r.reason, "time": r.created_at} for r in chunk.reviews.get(row.id, ())],
            "prediction": prediction,
            "review_reason": row.review_reason, "needed": row.needed, "created_at": row.created_at,
        }


def write(spec: Spec) -> Iterator[bytes]:
    """The Parquet file: the types from a first pass, then a row group of `ROW_GROUP` items at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data_type, value_type = _infer(spec)
    schema = arrow_schema(data_type, value_type)
    sink = _Drain()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    pending: list[dict] = []

    def flush(n: int) -> None:
        writer.write_table(pa.Table.from_pylist(pending[:n], schema=schema), row_group_size=n)
        del pending[:n]

    try:
        for chunk in spec.chunks():
            pending.extend(rows(chunk, data_type is not None, value_type is not None))
            while len(pending) >= ROW_GROUP:
                flush(ROW_GROUP)
                yield sink.drain()
        if pending:
            flush(len(pending))
    finally:
        writer.close()
    yield sink.drain()
