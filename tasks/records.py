"""Reading import records from JSON arrays and JSON Lines, one record at a time.

Pure parsing and validation, no ORM. Every problem is an `ImportError_` naming the record
(1-based position in an array, line number in JSON Lines) and the field.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from tasks.values import ValueShapeError, validate_data, validate_value


class RecordError(ValueError):
    """A bad record; imports nothing from the request."""

    def __init__(self, record: int | None, field: str | None, message: str, *, unit: str = "record"):
        self.record = record
        self.field = field
        self.message = message
        self.unit = unit
        where = f"{unit} {record}" if record is not None else "file"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")

    def as_dict(self) -> dict:
        return {self.unit: self.record, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Record:
    number: int
    data: dict
    external_id: str | None
    gold: dict | None
    unit: str = "record"  # what `number` counts: "record" (array position) or "line"


@dataclass(frozen=True)
class Schema:
    """What records of a project must look like."""

    task_type: str
    labels: list[str]


def parse_record(raw: Any, number: int, schema: Schema, unit: str = "record") -> Record:
    """Turn one decoded record into a `Record`, or raise `RecordError` naming it."""
    if not isinstance(raw, Mapping):
        raise RecordError(number, None, "must be a JSON object", unit=unit)
    if "data" in raw and isinstance(raw["data"], Mapping):
        data = dict(raw["data"])
        external_id = raw.get("external_id")
        gold = raw.get("gold")
    elif "data" in raw:
        raise RecordError(number, "data", "must be an object", unit=unit)
    else:
        data = dict(raw)
        external_id = data.pop("external_id", None)
        gold = data.pop("gold", None)
    if external_id == "":
        external_id = None
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) > 255):
        raise RecordError(number, "external_id", "must be a string of at most 255 characters", unit=unit)
    try:
        validate_data(schema.task_type, data)
        if gold is not None:
            gold = validate_value(schema.task_type, schema.labels, gold, data, field="gold")
    except ValueShapeError as exc:
        raise RecordError(number, exc.field, exc.message, unit=unit) from None
    return Record(number=number, data=data, external_id=external_id, gold=gold, unit=unit)


def decode_array(body: bytes | Any) -> list:
    """Decode a JSON array body (already-parsed lists pass through)."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RecordError(None, None, f"malformed JSON: {exc}") from None
    if not isinstance(body, list):
        raise RecordError(None, None, "expected a JSON array of records")
    return body


def iter_array(items: Iterable, schema: Schema) -> Iterator[Record]:
    for number, raw in enumerate(items, start=1):
        yield parse_record(raw, number, schema)


def iter_jsonl(stream: BinaryIO, schema: Schema) -> Iterator[Record]:
    """Records of a JSON Lines stream; blank lines are ignored."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise RecordError(number, None, f"malformed JSON: {exc}", unit="line") from None
        yield parse_record(raw, number, schema, unit="line")


def iter_file(stream: BinaryIO, filename: str, schema: Schema) -> Iterator[Record]:
    """Records of an uploaded file, chosen by its extension."""
    name = filename.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return iter_jsonl(stream, schema)
    if name.endswith(".json"):
        return iter_array(decode_array(stream.read()), schema)
    raise RecordError(None, "file", f"unsupported file type {filename!r}; use .json or .jsonl")
