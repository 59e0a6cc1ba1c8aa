"""Shapes of labeling values and item data per task type. Pure functions, no ORM.

Every check raises `ValueShapeError` with the path of the offending field, so API errors can
name it ("value.spans[2].end: ...").
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from common.text import NUL, NUL_MESSAGE

CHOICES = ("a", "b", "tie")


class ValueShapeError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _is_number(x: Any) -> bool:
    # NaN slips through the range checks below and cannot be stored as JSON; infinity is no size.
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and math.isfinite(x))


def _require_object(value: Any, field: str, keys: Sequence[str]) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueShapeError(field, f"must be an object with {', '.join(repr(k) for k in keys)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueShapeError(f"{field}.{missing[0]}", "is required")
    return value


def _label(label: Any, labels: Sequence[str], field: str) -> str:
    if not isinstance(label, str):
        raise ValueShapeError(field, "must be a label name (string)")
    if label not in labels:
        raise ValueShapeError(field, f"unknown label {label!r}; the project's labels are {list(labels)}")
    return label


def validate_value(task_type: str, labels: Sequence[str], value: Any, data: Mapping | None = None,
                   field: str = "value") -> dict:
    """Check that `value` fits the project's task type and labels; return it normalised.

    `data` is the item's data, used to bound span offsets by the text length.
    """
    if task_type == "classification":
        v = _require_object(value, field, ["label"])
        return {"label": _label(v["label"], labels, f"{field}.label")}
    if task_type == "multi_label":
        v = _require_object(value, field, ["labels"])
        chosen = v["labels"]
        if not isinstance(chosen, list):
            raise ValueShapeError(f"{field}.labels", "must be a list of label names")
        out: list[Any] = []
        for i, label in enumerate(chosen):
            name = _label(label, labels, f"{field}.labels[{i}]")
            if name in out:
                raise ValueShapeError(f"{field}.labels[{i}]", f"label {name!r} is listed twice")
            out.append(name)
        return {"labels": out}
    if task_type == "spans":
        v = _require_object(value, field, ["spans"])
        spans = v["spans"]
        if not isinstance(spans, list):
            raise ValueShapeError(f"{field}.spans", "must be a list of {start, end, label}")
        text = data.get("text") if isinstance(data, Mapping) else None
        out = []
        for i, span in enumerate(spans):
            f = f"{field}.spans[{i}]"
            s = _require_object(span, f, ["start", "end", "label"])
            start, end = s["start"], s["end"]
            if not isinstance(start, int) or isinstance(start, bool) or start < 0:
                raise ValueShapeError(f"{f}.start", "must be a non-negative integer")
            if not isinstance(end, int) or isinstance(end, bool) or end <= start:
                raise ValueShapeError(f"{f}.end", "must be an integer greater than start")
            if isinstance(text, str) and end > len(text):
                raise ValueShapeError(f"{f}.end", f"is past the end of the text ({len(text)} characters)")
            out.append({"start": start, "end": end, "label": _label(s["label"], labels, f"{f}.label")})
        return {"spans": sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))}
    if task_type == "boxes":
        v = _require_object(value, field, ["boxes"])
        boxes = v["boxes"]
        if not isinstance(boxes, list):
            raise ValueShapeError(f"{field}.boxes", "must be a list of {x, y, w, h, label}")
        out = []
        for i, box in enumerate(boxes):
            f = f"{field}.boxes[{i}]"
            b = _require_object(box, f, ["x", "y", "w", "h", "label"])
            for key in ("x", "y"):
                if not _is_number(b[key]) or b[key] < 0:
                    raise ValueShapeError(f"{f}.{key}", "must be a non-negative number of pixels")
            for key in ("w", "h"):
                if not _is_number(b[key]) or b[key] <= 0:
                    raise ValueShapeError(f"{f}.{key}", "must be a positive number of pixels")
            out.append({k: b[k] for k in ("x", "y", "w", "h")} | {"label": _label(b["label"], labels, f"{f}.label")})
        return {"boxes": out}
    if task_type == "pairwise":
        v = _require_object(value, field, ["choice"])
        if v["choice"] not in CHOICES:
            raise ValueShapeError(f"{field}.choice", "must be 'a', 'b' or 'tie'")
        return {"choice": v["choice"]}
    if task_type == "ranking":
        return validate_ranking(value, data, field)
    raise ValueShapeError("task_type", f"unknown task type {task_type!r}")


def response_ids(data: Mapping | None) -> list[str] | None:
    """The ids of a ranking item's responses in the order shown, or None if its data has no list of them."""
    responses = data.get("responses") if isinstance(data, Mapping) else None
    if not isinstance(responses, list):
        return None
    return [r["id"] for r in responses if isinstance(r, Mapping) and isinstance(r.get("id"), str)]


def validate_ranking(value: Any, data: Mapping | None, field: str = "value") -> dict:
    """Ranking: `{"ranking": [[id, ...], ...]}`, groups best first, a group's ids tied.

    With the item's `data`, every response must appear exactly once; without it (a value checked
    apart from its item) only the shape and repeats are checked.
    """
    v = _require_object(value, field, ["ranking"])
    groups = v["ranking"]
    f = f"{field}.ranking"
    if not isinstance(groups, list) or not groups:
        raise ValueShapeError(f, "must be a non-empty list of groups of response ids, best first")
    known = response_ids(data)
    seen: set[str] = set()
    out: list[list[str]] = []
    for i, group in enumerate(groups):
        if not isinstance(group, list) or not group:
            raise ValueShapeError(f"{f}[{i}]", "must be a non-empty list of response ids (tied ones share a group)")
        for j, rid in enumerate(group):
            where = f"{f}[{i}][{j}]"
            if not isinstance(rid, str):
                raise ValueShapeError(where, "must be a response id (string)")
            if known is not None and rid not in known:
                raise ValueShapeError(where, f"unknown response {rid!r}; the item's responses are {known}")
            if rid in seen:
                raise ValueShapeError(where, f"response {rid!r} is ranked twice")
            seen.add(rid)
        out.append(list(group))
    if known is not None:
        missing = [rid for rid in known if rid not in seen]
        if missing:
            raise ValueShapeError(f, f"response {missing[0]!r} is not ranked; rank every response exactly once")
    return {"ranking": out}


def _nonempty_string(data: Mapping, key: str, field: str) -> None:
    if key not in data:
        raise ValueShapeError(f"{field}.{key}", "is required")
    if not isinstance(data[key], str) or not data[key].strip():
        raise ValueShapeError(f"{field}.{key}", "must be a non-empty string")


def find_nul(x: Any, field: str) -> str | None:
    """The path of the first string (or key) in `x` that holds a NUL character, else None.

    PostgreSQL's text and JSON types cannot store NUL, so such data must be refused, not sent."""
    if isinstance(x, str):
        return field if NUL in x else None
    if isinstance(x, Mapping):
        for key, v in x.items():
            if isinstance(key, str) and NUL in key:
                return f"{field}.{key!r}"
            if not isinstance(v, (int, float, bool)) and v is not None and (found := find_nul(v, f"{field}.{key}")):
                return found
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            if not isinstance(v, (int, float, bool)) and v is not None and (found := find_nul(v, f"{field}[{i}]")):
                return found
    return None


def validate_data(task_type: str, data: Any, field: str = "data") -> None:
    """Check that an item's data carries what its task type shows to annotators."""
    if not isinstance(data, Mapping):
        raise ValueShapeError(field, "must be an object")
    if (where := find_nul(data, field)) is not None:
        raise ValueShapeError(where, NUL_MESSAGE)
    if task_type in ("classification", "multi_label"):
        if "image" in data and "text" not in data:
            _nonempty_string(data, "image", field)
        else:
            _nonempty_string(data, "text", field)
    elif task_type == "spans":
        _nonempty_string(data, "text", field)
    elif task_type == "boxes":
        _nonempty_string(data, "image", field)
    elif task_type == "pairwise":
        for key in ("prompt", "a", "b"):
            _nonempty_string(data, key, field)
    elif task_type == "ranking":
        _validate_responses(data, field)
    else:
        raise ValueShapeError("task_type", f"unknown task type {task_type!r}")


MIN_RESPONSES, MAX_RESPONSES = 2, 10


def _validate_responses(data: Mapping, field: str) -> None:
    """Ranking data: a prompt and 2-10 responses `{"id", "text"}` with unique, non-empty ids."""
    _nonempty_string(data, "prompt", field)
    responses = data.get("responses")
    f = f"{field}.responses"
    if not isinstance(responses, list):
        raise ValueShapeError(f, 'is required: a list of {"id", "text"}')
    if not MIN_RESPONSES <= len(responses) <= MAX_RESPONSES:
        raise ValueShapeError(f, f"must hold {MIN_RESPONSES} to {MAX_RESPONSES} responses, not {len(responses)}")
    ids: set[str] = set()
    for i, response in enumerate(responses):
        where = f"{f}[{i}]"
        r = _require_object(response, where, ["id", "text"])
        _nonempty_string(r, "id", where)
        _nonempty_string(r, "text", where)
        if r["id"] in ids:
            raise ValueShapeError(f"{where}.id", f"response id {r['id']!r} is used twice")
        ids.add(r["id"])
