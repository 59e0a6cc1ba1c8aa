"""Label Studio's JSON export: tasks with their annotations and predictions, turned into records.

A task is `{"id", "data": {...}, "annotations": [{"completed_by", "result": [...], "was_cancelled",
"ground_truth", "lead_time", "created_at"}], "predictions": [{"model_version", "score", "result"}]}`.
Result entries become our value shapes:

- `choices` → classification `{"label"}` (one choice) or multi_label `{"labels"}`;
- `labels` with `start`/`end` → spans (character offsets; Label Studio counts them in UTF-16 code
  units, so offsets in a text with characters above U+FFFF are converted when the quoted `text`
  says so);
- `rectanglelabels` → boxes: `x`/`y`/`width`/`height` are percentages of `original_width` /
  `original_height` and become pixels (rotated rectangles are refused);
- `pairwise` `{"selected": "left"|"right"|"none"}` → `{"choice": "a"|"b"|"tie"}` (data `answer1`/
  `answer2` or `left`/`right` also become `a`/`b` when those are missing).

Entries of other labeling types (polygons, brushes, ...) are refused; entries that carry no label
(`textarea`, `rating`, `relation`, ...) are ignored.

What the annotations become follows `ReadOptions.labels_as`:

- "gold" (the default): the annotation marked `ground_truth`, else the first one not cancelled,
  becomes the item's gold; the other annotations are not imported, so no user mapping is needed.
- "annotations": every annotation is imported, attributed to `completed_by.username`, else the
  local part of `completed_by.email` ("ann@x.org" → "ann"), else `ReadOptions.annotator` (the file
  does not say who: a bare Label Studio user id), else an error naming the record. A cancelled
  annotation becomes a skip. The `ground_truth` annotation is not anyone's annotation: it becomes
  the gold, or the final value when `meta.final_source` (our own Label Studio export) says it came
  from consensus, a reviewer or the model.
- "predictions": the first annotation not cancelled becomes the prediction of a task that has no
  Label Studio prediction.

Label Studio predictions become the item's prediction in every case (the last one of a task that
has a result; `score` is its confidence, and for boxes each region's own `score` is its box's, so
the least sure box sets the confidence). The external id is the task's `external_id`, else
`meta.external_id` (our own Label Studio export), else the Label Studio task `id`, so a second
import of the same export is refused as a duplicate.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dataio.readers.options import ReadOptions
from dataio.records import (
    Record,
    RecordError,
    Schema,
    confidence,
    is_object,
    make_record,
    parse_time,
    seconds,
    username,
    validated,
)
from tasks.values import ValueShapeError

_RELEVANT = {
    "classification": "choices",
    "multi_label": "choices",
    "spans": "labels",
    "boxes": "rectanglelabels",
    "pairwise": "pairwise",
}
# Result types that carry labels: one that does not fit the project is an error, never dropped.
_LABELING = {"choices", "labels", "rectanglelabels", "pairwise", "polygonlabels", "keypointlabels",
             "brushlabels", "ellipselabels", "taxonomy", "hypertextlabels", "paragraphlabels",
             "timeserieslabels", "videorectangle", "rectangle", "polygon", "keypoint", "ellipse", "brush"}


def looks_like_label_studio(raw: Any) -> bool:
    """Whether a decoded record has Label Studio's task shape (a "data" object, "result" lists)."""
    if not is_object(raw) or not is_object(raw.get("data")):
        return False
    if isinstance(raw.get("predictions"), list):  # our own export has one "prediction"
        return True
    annotations = raw.get("annotations")
    return isinstance(annotations, list) and any(is_object(a) and "result" in a for a in annotations)


def read_label_studio(values: Iterable[tuple[int, Any]], schema: Schema, options: ReadOptions,
                      unit: str = "record") -> Iterator[Record]:
    """Records of decoded Label Studio tasks, numbered as `values` numbers them."""
    for number, task in values:
        yield task_record(task, number, schema, options, unit)


def task_record(task: Any, number: int, schema: Schema, options: ReadOptions, unit: str = "record") -> Record:
    """One Label Studio task as a `Record`, or `RecordError` naming it and the field."""
    if not is_object(task):
        raise RecordError(number, None, "must be a JSON object", unit=unit)
    data = task.get("data")
    if not is_object(data):
        raise RecordError(number, "data", "must be an object", unit=unit)
    data = _data(data, schema)
    meta = task.get("meta") if is_object(task.get("meta")) else {}
    if "external_id" in task:
        external_id = task["external_id"]
    elif "external_id" in meta:
        external_id = meta["external_id"]  # our own Label Studio export keeps it here, null when none
    else:
        external_id = task.get("id")
    gold = final = None
    raw_annotations: list[dict] = []
    try:
        annotations = _list(task.get("annotations"), "annotations")
        prediction = _prediction(_list(task.get("predictions"), "predictions"), schema, data, number, unit)
        if options.labels_as == "annotations":
            truth = _truth(annotations)
            users: set[str] = set()
            for i, a in enumerate(annotations):
                if i == truth:
                    final = _final(a, i, schema, data, meta, number, unit)
                    continue
                raw = _annotation(a, i, schema, data, options, number, unit)
                if raw["user"] in users:
                    raise ValueShapeError(f"annotations[{i}].completed_by",
                                          f"{raw['user']!r} has two annotations on this task")
                users.add(raw["user"])
                raw_annotations.append(raw)
        else:
            chosen = _chosen(annotations, schema, data, number, unit)
            if options.labels_as == "gold":
                gold = chosen
            elif prediction is None and chosen is not None:
                prediction = {"value": chosen, "confidence": None}
    except ValueShapeError as exc:
        raise RecordError(number, exc.field, exc.message, unit=unit) from None
    return make_record(number, schema, data, external_id=external_id, gold=gold, annotations=raw_annotations,
                       prediction=prediction, final=final, unit=unit)


def _data(data: Mapping, schema: Schema) -> dict:
    data = dict(data)
    if schema.task_type == "pairwise":
        for a, b in (("answer1", "answer2"), ("left", "right")):
            if "a" not in data and "b" not in data and a in data and b in data:
                data["a"], data["b"] = data[a], data[b]
    return data


def _list(raw: Any, field: str) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueShapeError(field, "must be a list")
    return raw


def _truth(annotations: list) -> int | None:
    """The position of the first ground-truth annotation that is not cancelled."""
    for i, a in enumerate(annotations):
        if is_object(a) and a.get("ground_truth") and not a.get("was_cancelled"):
            return i
    return None


def _chosen(annotations: list, schema: Schema, data: dict, number: int, unit: str) -> dict | None:
    """The value of the ground-truth annotation, else of the first one not cancelled."""
    truth = _truth(annotations)
    order = ([truth] if truth is not None else []) + [i for i in range(len(annotations)) if i != truth]
    for i in order:
        a = annotations[i]
        field = f"annotations[{i}]"
        if not is_object(a):
            raise ValueShapeError(field, "must be an object")
        if a.get("was_cancelled"):
            continue
        value = result_value(a.get("result"), schema, data, f"{field}.result")
        if value is not None:
            return validated(schema, value, data, f"{field}.value", number, unit)
    return None


def _required_value(a: Mapping, i: int, schema: Schema, data: dict, number: int, unit: str) -> dict:
    value = result_value(a.get("result"), schema, data, f"annotations[{i}].result")
    if value is None:
        raise ValueShapeError(f"annotations[{i}].result", f"holds no {_RELEVANT[schema.task_type]!r} result")
    return validated(schema, value, data, f"annotations[{i}].value", number, unit)


def _final(a: Mapping, i: int, schema: Schema, data: dict, meta: Mapping, number: int, unit: str) -> dict:
    """The final value the ground-truth annotation stands for: the gold, unless `meta.final_source`
    (our own Label Studio export) says it came from consensus, a reviewer or the model."""
    value = _required_value(a, i, schema, data, number, unit)
    source = meta.get("final_source")
    at = parse_time(a.get("created_at"), f"annotations[{i}].created_at")
    if source not in ("consensus", "reviewer", "model"):
        return {"value": value, "source": "gold", "at": at}  # becomes the gold, dated
    by = _username(a.get("completed_by"), f"annotations[{i}].completed_by")
    return {"value": value, "source": source, "by": by, "at": at}


def _annotation(a: Any, i: int, schema: Schema, data: dict, options: ReadOptions, number: int,
                unit: str) -> dict:
    field = f"annotations[{i}]"
    if not is_object(a):
        raise ValueShapeError(field, "must be an object")
    cancelled = bool(a.get("was_cancelled"))
    value = None if cancelled else _required_value(a, i, schema, data, number, unit)
    user = _username(a.get("completed_by"), f"{field}.completed_by") or options.annotator
    if not user:
        raise ValueShapeError(f"{field}.completed_by",
                              "names no user by username or email; give an annotator to attribute it to")
    # Checked here so that errors name the annotation's place in the task.
    return {"user": user, "value": value, "skipped": cancelled,
            "lead_time": seconds(a.get("lead_time"), f"{field}.lead_time"),
            "created_at": parse_time(a.get("created_at"), f"{field}.created_at")}


def _username(raw: Any, field: str) -> str | None:
    """The username a `completed_by` object gives ("username", else the local part of "email")."""
    if not is_object(raw):
        return None  # a bare Label Studio user id names nobody here
    name = raw.get("username")
    if isinstance(name, str) and name.strip():
        return username(name, field)
    email = raw.get("email")
    if isinstance(email, str) and "@" in email and email.split("@")[0].strip():
        return username(email.split("@")[0], field)
    return None


def _prediction(predictions: list, schema: Schema, data: dict, number: int, unit: str) -> dict | None:
    for j in reversed(range(len(predictions))):
        p = predictions[j]
        field = f"predictions[{j}]"
        if not is_object(p):
            raise ValueShapeError(field, "must be an object")
        value = result_value(p.get("result"), schema, data, f"{field}.result")
        if value is None:
            continue
        checked = validated(schema, value, data, f"{field}.value", number, unit)
        out = {"value": checked, "confidence": confidence(p.get("score"), f"{field}.score"),
               "model_version": p.get("model_version")}
        if schema.task_type == "boxes" and any("score" in b for b in value["boxes"]):
            # Each region's own score: the item's confidence becomes its least sure box.
            out["scores"] = {"boxes": [b | {"score": raw.get("score")} for b, raw in zip(checked["boxes"],
                                                                                          value["boxes"])]}
        return out
    return None


def result_value(result: Any, schema: Schema, data: Mapping, field: str) -> dict | None:
    """Our value for a Label Studio `result` list; None when it holds nothing for the task type."""
    if result is None:
        return None
    if not isinstance(result, list):
        raise ValueShapeError(field, "must be a list")
    task_type = schema.task_type
    wanted = _RELEVANT[task_type] if task_type in _RELEVANT else None
    found: list = []
    seen = False
    for k, entry in enumerate(result):
        f = f"{field}[{k}]"
        if not is_object(entry):
            raise ValueShapeError(f, "must be an object")
        kind = entry.get("type")
        if kind != wanted:
            if kind in _LABELING:
                raise ValueShapeError(f"{f}.type", f"{kind!r} results do not fit a {task_type} project")
            continue
        seen = True
        value = entry.get("value")
        if not is_object(value):
            raise ValueShapeError(f"{f}.value", "must be an object")
        if kind == "choices":
            found.extend(_strings(value.get("choices"), f"{f}.value.choices"))
        elif kind == "labels":
            found.extend(_spans(value, data, f"{f}.value"))
        elif kind == "rectanglelabels":
            found.extend(_boxes(entry, value, f))
        elif kind == "pairwise":
            found.append(_choice(value, f"{f}.value.selected"))
    if not seen:
        return None
    if task_type == "classification":
        if not found:
            return None
        if len(found) > 1:
            raise ValueShapeError(field, f"chooses {len(found)} labels; a classification project takes one")
        return {"label": found[0]}
    if task_type == "multi_label":
        return {"labels": list(dict.fromkeys(found))}
    if task_type == "spans":
        return {"spans": found}
    if task_type == "boxes":
        return {"boxes": found}
    if len(set(found)) > 1:
        raise ValueShapeError(field, "holds more than one pairwise choice")
    return {"choice": found[0]}


def _strings(raw: Any, field: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueShapeError(field, "must be a list of label names")
    return raw


def _spans(value: Mapping, data: Mapping, field: str) -> list[dict]:
    start, end = value.get("start"), value.get("end")
    for key, x in (("start", start), ("end", end)):
        if not isinstance(x, int) or isinstance(x, bool):
            raise ValueShapeError(f"{field}.{key}", "must be a character offset (integer)")
    text = data.get("text")
    quoted = value.get("text")
    if isinstance(text, str) and isinstance(quoted, str) and isinstance(start, int) and isinstance(end, int):
        start, end = _code_points(text, start, end, quoted)
    return [{"start": start, "end": end, "label": label} for label in _strings(value.get("labels"), f"{field}.labels")]


def _code_points(text: str, start: int, end: int, quoted: str) -> tuple[int, int]:
    """Offsets into `text` as Python counts them, when Label Studio counted UTF-16 code units."""
    if text[start:end] == quoted or all(ord(ch) <= 0xFFFF for ch in text):
        return start, end
    units_to_index: dict[int, int] = {}
    units = 0
    for index, ch in enumerate(text):
        units_to_index[units] = index
        units += 2 if ord(ch) > 0xFFFF else 1
    units_to_index[units] = len(text)
    s, e = units_to_index.get(start), units_to_index.get(end)
    if s is not None and e is not None and text[s:e] == quoted:
        return s, e
    return start, end


def _boxes(entry: Mapping, value: Mapping, field: str) -> list[dict]:
    sizes: dict[str, float] = {}
    for key in ("original_width", "original_height"):
        size = entry.get(key)
        if not isinstance(size, (int, float)) or isinstance(size, bool) or size <= 0:
            raise ValueShapeError(f"{field}.{key}", "is required to turn percentages into pixels")
        sizes[key] = size
    width, height = sizes["original_width"], sizes["original_height"]
    numbers = {}
    for key in ("x", "y", "width", "height"):
        x = value.get(key)
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise ValueShapeError(f"{field}.value.{key}", "must be a number (percent of the image)")
        numbers[key] = x
    if value.get("rotation") not in (None, 0, 0.0):
        raise ValueShapeError(f"{field}.value.rotation", "rotated boxes are not supported")

    def px(percent: float, size: float) -> float:
        pixels = round(percent * size / 100, 4)
        # A box dragged to the image's edge can come out a hair below zero.
        return 0.0 if -0.5 < pixels < 0 else pixels

    box = {"x": px(numbers["x"], width), "y": px(numbers["y"], height),
           "w": px(numbers["width"], width), "h": px(numbers["height"], height)}
    labels = _strings(value.get("rectanglelabels"), f"{field}.value.rectanglelabels")
    score = {"score": entry["score"]} if entry.get("score") is not None else {}  # a prediction's region
    return [box | {"label": label} | score for label in labels]


def _choice(value: Mapping, field: str) -> str:
    selected = value.get("selected")
    choice = {"left": "a", "right": "b", "none": "tie"}.get(str(selected))
    if choice is None:
        raise ValueShapeError(field, "must be 'left', 'right' or 'none' (a tie)")
    return choice
