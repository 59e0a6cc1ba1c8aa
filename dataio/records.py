"""Reading import records from JSON arrays and JSON Lines, one record at a time.

Pure parsing and validation, no ORM. Every problem is a `RecordError` naming the record
(1-based position in an array, line number in JSON Lines) and the field. The readers of every
upload format (dataio/readers/) build their records with `make_record`, so all formats are checked
the same way.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO

import orjson

from common.errors import Invalid
from common.text import NUL, NUL_MESSAGE
from models_registry.structured import PARTS, is_structured, probability, scored_parts
from tasks.questions import validate_value_with_answers
from tasks.values import ValueShapeError, validate_data, validate_value

FINAL_SOURCES = ("gold", "consensus", "reviewer", "model")
MAX_USERNAME = 150  # accounts.User.username


class RecordError(Invalid, ValueError):
    """A bad record; imports nothing from the request (400, naming the record and field)."""

    def __init__(self, record: int | None, field: str | None, message: str, *, unit: str = "record"):
        self.record = record
        self.field = field
        self.message = message
        self.unit = unit
        where = f"{unit} {record}" if record is not None else "file"
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")

    def body(self) -> dict:
        return {"detail": f"Nothing was imported. {self}", "errors": [self.as_dict()]}

    def as_dict(self) -> dict:
        return {self.unit: self.record, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ImportedAnnotation:
    """An annotation that arrives with its item, attributed to a username."""

    user: str
    value: dict | None  # None only when skipped
    skipped: bool = False
    lead_time: float | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ImportedPrediction:
    """A model's suggestion that arrives with its item."""

    value: dict
    # For boxes: the least sure box (or the record's confidence, if lower), when the boxes have scores.
    confidence: float | None
    model_version: str | int | None = None  # as the file gives it (our own versions are numbers)
    # Probability per label, as our export writes it; for boxes `{"boxes": [{..., "score"}]}`.
    scores: dict[str, Any] | None = None


@dataclass(frozen=True)
class ImportedFinal:
    """A final value decided elsewhere; a final from source "gold" becomes `Record.gold` instead."""

    value: dict
    source: str  # consensus | reviewer | model
    by: str | None
    at: datetime | None


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building a
# record cost four times as much (about 3 µs of every imported record). Treat it as read-only all the
# same; `dataclasses.replace` makes changed copies.
@dataclass(slots=True)
class Record:
    number: int
    data: dict
    external_id: str | None
    gold: dict | None
    unit: str = "record"  # what `number` counts: "record" (array position), "line", "row" or "entry"
    annotations: tuple[ImportedAnnotation, ...] = ()
    prediction: ImportedPrediction | None = None
    final: ImportedFinal | None = None
    gold_at: datetime | None = None  # when the gold was set, if the file says (our export's final.at)


@dataclass(frozen=True)
class Schema:
    """What records of a project must look like."""

    task_type: str
    labels: list[str]
    # The project's rubric questions: answers in gold, annotation and final values are checked against them.
    questions: tuple = ()


# Keys of a wrapped record that take the longer path through `make_record`.
_EXTRA_KEYS = ("annotations", "prediction", "final")


def parse_record(raw: Any, number: int, schema: Schema, unit: str = "record") -> Record:
    """Turn one decoded record into a `Record`, or raise `RecordError` naming it.

    A record is `{"data": {...}, "external_id"?, "gold"?, "annotations"?, "prediction"?, "final"?}`
    (the shape of our own export; its "id", "status", "reviews", "review_reason", "needed" and
    "created_at" are ignored: the importer gives new ids and derives the rest) or a flat object
    taken as the data, with "external_id" and "gold" taken out of it.
    """
    if not is_object(raw):
        raise RecordError(number, None, "must be a JSON object", unit=unit)
    if "data" in raw and is_object(raw["data"]):
        data = dict(raw["data"])
        external_id = raw.get("external_id")
        gold = raw.get("gold")
        if "annotations" in raw or "prediction" in raw or "final" in raw:  # see _EXTRA_KEYS
            return make_record(number, schema, data, external_id=external_id, gold=gold,
                               annotations=raw.get("annotations"), prediction=raw.get("prediction"),
                               final=raw.get("final"), unit=unit)
    elif "data" in raw:
        raise RecordError(number, "data", "must be an object", unit=unit)
    else:
        data = dict(raw)
        external_id = data.pop("external_id", None)
        gold = data.pop("gold", None)
    # The common case (data, external id, maybe gold) stays on this short path: it runs per record.
    external_id = _external_id(external_id, number, unit)
    try:
        if not (schema.task_type in _TEXT_TASKS and _plain_text_data(data)):
            validate_data(schema.task_type, data)
        if gold is not None:
            gold = _value(schema, gold, data, "gold")
    except ValueShapeError as exc:
        raise RecordError(number, exc.field, exc.message, unit=unit) from None
    return Record(number=number, data=data, external_id=external_id, gold=gold, unit=unit)


# Task types whose data is valid when it has a non-empty "text" (tasks.values.validate_data).
_TEXT_TASKS = frozenset(("classification", "multi_label", "spans"))


def _plain_text_data(data: dict) -> bool:
    """Whether `data` surely passes `validate_data` for a text task: a flat dict of numbers and strings
    (without NUL) whose "text" is a non-empty string. The check of most imported records, at a fraction
    of validate_data's cost; anything else (nested values, a missing text) takes the full check, which
    names the problem."""
    if type(data) is not dict:
        return False
    text = data.get("text")
    if type(text) is not str or not text or text.isspace():  # isspace(): what str.strip() would remove
        return False
    for key, value in data.items():
        if type(key) is not str or NUL in key:
            return False
        kind = type(value)
        if kind is str:
            if NUL in value:
                return False
        elif kind is not int and kind is not float and kind is not bool and value is not None:
            return False
    return True


def make_record(number: int, schema: Schema, data: Any, *, external_id: Any = None, gold: Any = None,
                annotations: Any = None, prediction: Any = None, final: Any = None,
                unit: str = "record") -> Record:
    """Validate the raw parts of a record (export shapes) into a `Record`, or raise `RecordError`.

    `annotations`: a list of `{"user", "value", "skipped"?, "lead_time"?, "time" | "created_at"?}`;
    `prediction`: `{"value", "confidence"?, "model_version"?, "scores"?}` (boxes: a "score" per box, in
    the value's boxes or as `scores: {"boxes": [{..., "score"}]}`);
    `final`: `{"value", "source", "by"?, "at"?}`, where source "gold" makes the value the record's
    gold (and "at" its `gold_at`). Values are checked against the schema and the record's data;
    errors name the field, e.g. "annotations[2].value.label".
    """
    if not is_object(data):
        raise RecordError(number, "data", "must be an object", unit=unit)
    data = dict(data)
    external_id = _external_id(external_id, number, unit)
    gold_at = None
    try:
        validate_data(schema.task_type, data)
        if gold is not None:
            gold = _value(schema, gold, data, "gold")
        parsed_final = _final(final, schema, data) if final is not None else None
        if parsed_final is not None and parsed_final.source == "gold":
            if gold is not None and gold != parsed_final.value:
                raise ValueShapeError("final.value", "differs from the record's gold")
            gold, gold_at, parsed_final = parsed_final.value, parsed_final.at, None
        if gold is not None and parsed_final is not None:
            raise ValueShapeError("final.source", "a gold record's final value is its gold")
        parsed_annotations = _annotations(annotations, schema, data) if annotations else ()
        parsed_prediction = _prediction(prediction, schema, data) if prediction is not None else None
    except ValueShapeError as exc:
        raise RecordError(number, exc.field, exc.message, unit=unit) from None
    return Record(number=number, data=data, external_id=external_id, gold=gold, unit=unit,
                  annotations=parsed_annotations, prediction=parsed_prediction, final=parsed_final, gold_at=gold_at)


def _external_id(external_id: Any, number: int, unit: str) -> str | None:
    if external_id == "":
        return None
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        return str(external_id)
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) > 255):
        raise RecordError(number, "external_id", "must be a string of at most 255 characters", unit=unit)
    if external_id is not None and NUL in external_id:
        raise RecordError(number, "external_id", NUL_MESSAGE, unit=unit)
    return external_id


def is_object(x: Any) -> bool:
    """Whether `x` is a JSON object (a mapping)."""
    # Decoded JSON gives dicts; the check through the Mapping ABC costs several times more per record.
    return isinstance(x, dict) or isinstance(x, Mapping)


def _object(raw: Any, field: str) -> Mapping:
    if not is_object(raw):
        raise ValueShapeError(field, "must be an object")
    return raw


def _annotations(raw: Any, schema: Schema, data: Mapping) -> tuple[ImportedAnnotation, ...]:
    if not isinstance(raw, list):
        raise ValueShapeError("annotations", "must be a list of {user, value}")
    out: list[ImportedAnnotation] = []
    users: set[str] = set()
    for i, a in enumerate(raw):
        field = f"annotations[{i}]"
        a = _object(a, field)
        user = username(a.get("user"), f"{field}.user")
        if user in users:
            raise ValueShapeError(f"{field}.user", f"{user!r} has two annotations on this record")
        users.add(user)
        skipped = a.get("skipped", False)
        if not isinstance(skipped, bool):
            raise ValueShapeError(f"{field}.skipped", "must be true or false")
        value = a.get("value")
        if value is not None or not skipped:
            value = _value(schema, value, data, f"{field}.value")
        out.append(ImportedAnnotation(
            user=user, value=value, skipped=skipped,
            lead_time=seconds(a.get("lead_time"), f"{field}.lead_time"),
            created_at=parse_time(a.get("time", a.get("created_at")), f"{field}.time" if "time" in a
                                  else f"{field}.created_at"),
        ))
    return tuple(out)


def _prediction(raw: Any, schema: Schema, data: Mapping) -> ImportedPrediction | None:
    raw = _object(raw, "prediction")
    if raw.get("value") is None:
        # A prediction without a value (e.g. scores only) carries nothing the platform can show.
        raise ValueShapeError("prediction.value", "is required")
    value = validate_value(schema.task_type, schema.labels, raw["value"], data, field="prediction.value")
    given = confidence(raw.get("confidence"), "prediction.confidence")
    version = _version(raw.get("model_version"), "prediction.model_version")
    if is_structured(schema.task_type):
        return _scored_prediction(raw, value, given, version, schema, data)
    return ImportedPrediction(value=value, confidence=given, model_version=version,
                              scores=_scores(raw.get("scores"), "prediction.scores"))


def _scored_prediction(raw: Mapping, value: dict, given: float | None, version: str | int | None, schema: Schema,
                       data: Mapping) -> ImportedPrediction:
    """A boxes prediction whose boxes may carry scores: in the boxes themselves, or in `scores.boxes`
    (our export's shape), one per box in order. The item's confidence is then the least sure box,
    or the record's `confidence` if that is lower. Without scores, the record's confidence stands."""
    key = PARTS[schema.task_type]
    parts = raw["value"][key]  # checked by validate_value: a list of objects
    flat = raw.get("scores")
    if schema.task_type == "spans" and isinstance(flat, dict) and key not in flat \
            and all(p.get("score") is None for p in parts):
        # Span predictions imported before spans had per-span scores: label -> probability, kept as they were.
        return ImportedPrediction(value=value, confidence=given, model_version=version,
                                  scores=_scores(flat, "prediction.scores"))
    own = [p.get("score") for p in parts]
    listed = _listed_scores(raw.get("scores"), key, parts)
    if any(s is not None for s in own):
        missing = next((j for j, s in enumerate(own) if s is None), None)
        if missing is not None:
            raise ValueShapeError(f"prediction.value.{key}[{missing}].score", "is required when other boxes have one")
        inline = [probability(s, f"prediction.value.{key}[{j}].score") for j, s in enumerate(own)]
        if listed is not None and listed != inline:
            raise ValueShapeError(f"prediction.scores.{key}", f"differ from the scores in prediction.value.{key}")
        listed = inline
    if listed is None:
        return ImportedPrediction(value=value, confidence=given, model_version=version)
    scored = scored_parts(schema.task_type, schema.labels, parts, listed, data, "prediction.value")
    return ImportedPrediction(value=scored.value, confidence=scored.confidence(given, empty=given),
                              model_version=version, scores=scored.scores)


def _listed_scores(raw: Any, key: str, parts: list[dict]) -> list[float] | None:
    """The per-part scores of `prediction.scores` (`{key: [{..., "score"}]}`), or None if it has none."""
    if raw is None or raw == {}:
        return None
    if not is_object(raw) or set(raw) != {key} or not isinstance(raw[key], list):
        raise ValueShapeError("prediction.scores", f"must be {{\"{key}\": [...]}}, a {{..., \"score\"}} per part of "
                                                   f"prediction.value.{key}")
    if len(raw[key]) != len(parts):
        raise ValueShapeError(f"prediction.scores.{key}", f"has {len(raw[key])} entries for {len(parts)} parts")
    out = []
    for j, (entry, part) in enumerate(zip(raw[key], parts)):
        field = f"prediction.scores.{key}[{j}]"
        entry = _object(entry, field)
        if "score" not in entry:
            raise ValueShapeError(f"{field}.score", "is required")
        out.append(probability(entry["score"], f"{field}.score"))
        for name, v in part.items():  # a part repeated with its score must be the value's part
            if name != "score" and name in entry and entry[name] != v:
                raise ValueShapeError(f"{field}.{name}", f"differs from prediction.value.{key}[{j}].{name}")
    return out


def _scores(raw: Any, field: str) -> dict[str, float] | None:
    if raw is None or raw == {}:
        return None
    if not is_object(raw):
        raise ValueShapeError(field, "must be an object of label: probability")
    scores: dict[str, float] = {}
    for label, p in raw.items():
        score = confidence(p, f"{field}.{label}")
        if score is None:
            raise ValueShapeError(f"{field}.{label}", "must be a number between 0 and 1")
        scores[str(label)] = score
    return scores


def _value(schema: Schema, raw: Any, data: Mapping | None, field: str) -> Any:
    """A label value of the project, with its rubric answers (optional in imports, checked when given)."""
    if schema.questions or (isinstance(raw, Mapping) and "answers" in raw):
        return validate_value_with_answers(schema.task_type, schema.labels, list(schema.questions), raw, data,
                                           field, require=False)
    return validate_value(schema.task_type, schema.labels, raw, data, field=field)


def _final(raw: Any, schema: Schema, data: Mapping) -> ImportedFinal:
    raw = _object(raw, "final")
    source = raw.get("source")
    if source not in FINAL_SOURCES:
        raise ValueShapeError("final.source", f"must be one of {', '.join(FINAL_SOURCES)}")
    value = _value(schema, raw.get("value"), data, "final.value")
    by = raw.get("by")
    if by is not None:
        by = username(by, "final.by")
    return ImportedFinal(value=value, source=source, by=by, at=parse_time(raw.get("at"), "final.at"))


def username(raw: Any, field: str) -> str:
    """A username as a file gives it; raises `ValueShapeError` naming `field`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_USERNAME or NUL in raw:
        raise ValueShapeError(field, f"must be a username (a non-empty string of at most {MAX_USERNAME} characters)")
    return raw.strip()


def confidence(raw: Any, field: str) -> float | None:
    """None, or a probability in [0, 1]."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw <= 1:
        raise ValueShapeError(field, "must be a number between 0 and 1")
    return float(raw)


def seconds(raw: Any, field: str) -> float | None:
    """None, or a non-negative number of seconds."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
        raise ValueShapeError(field, "must be a non-negative number of seconds")
    return float(raw)


def _version(raw: Any, field: str) -> str | int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str) or len(raw) > 255:
        raise ValueShapeError(field, "must be a string of at most 255 characters")
    if NUL in raw:
        raise ValueShapeError(field, NUL_MESSAGE)
    return raw


def parse_time(raw: Any, field: str) -> datetime | None:
    """None, or an ISO 8601 time (a time without offset is taken as UTC)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueShapeError(field, f"must be an ISO 8601 time, not {raw[:40]!r}") from None
    else:
        raise ValueShapeError(field, "must be an ISO 8601 time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def validated(schema: Schema, value: Any, data: Mapping, field: str, number: int, unit: str) -> dict:
    """`validate_value` raising `RecordError` for record `number` instead."""
    try:
        return validate_value(schema.task_type, schema.labels, value, data, field=field)
    except ValueShapeError as exc:
        raise RecordError(number, exc.field, exc.message, unit=unit) from None



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


def iter_array(items: Iterable, schema: Schema, options: Any = None) -> Iterator[Record]:
    """Records of an already-decoded JSON array, numbered from 1.

    With `options` (a `dataio.readers.ReadOptions`), Label Studio tasks and label columns are read
    as the upload readers read them.
    """
    if options is not None:
        from dataio.readers import records_of_values  # the readers build on this module

        return records_of_values(enumerate(items, start=1), schema, options)
    return _plain_array(items, schema)


def _plain_array(items: Iterable, schema: Schema) -> Iterator[Record]:
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
