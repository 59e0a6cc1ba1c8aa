"""Rubric questions asked besides a project's main label, and their answers. Pure functions, no ORM.

A project's `questions` is a list of

    {"id": "helpful", "type": "rating", "scale": 5, "labels": ["useless", ..., "excellent"], "required": true}
    {"id": "safe", "type": "flag"}                                     # yes / no
    {"id": "topic", "type": "choice", "options": ["a", "b"], "multiple": false}
    {"id": "why", "type": "text", "required": false, "min_length": 20}  # a rationale

An annotation's value carries the answers next to the main label: `{"label": "pos", "answers":
{"helpful": 4, "safe": false, "topic": "a", "why": "..."}}`; a rating is 1..scale, a flag a bool, a
choice an option (a list of options when `multiple`), a text a string. Errors name the field
(`questions[1].scale`, `value.answers.why`) with `ValueShapeError`.

Consensus keeps the main label's rule; the answers of the final value are (`aggregate`):
a rating: the median (the lower of the two middle ones for an even count, so it stays a point of the
scale); a flag: what a strict majority said; a choice: the option a strict majority chose (multiple:
each option more than half chose); a text: kept only when every annotator who wrote one wrote the same.
An answer with no majority is left out.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tasks.values import ValueShapeError, validate_value

TYPES = ("rating", "flag", "choice", "text")
SCALES = (5, 7)
MAX_QUESTIONS = 20
MAX_TEXT = 5000

Question = dict[str, Any]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _strings(x: Any, field: str, n: int | None = None) -> list[str]:
    if not isinstance(x, list) or not all(isinstance(s, str) and s.strip() for s in x):
        raise ValueShapeError(field, "must be a list of non-empty strings")
    if n is not None and len(x) != n:
        raise ValueShapeError(field, f"must have one label per point of the scale ({n})")
    if len(set(x)) != len(x):
        raise ValueShapeError(field, "must not repeat an entry")
    return list(x)


def validate_questions(questions: Any, field: str = "questions") -> list[Question]:
    """Check a project's rubric; return it normalised (every key present)."""
    if questions is None:
        return []
    if not isinstance(questions, list):
        raise ValueShapeError(field, "must be a list of questions")
    if len(questions) > MAX_QUESTIONS:
        raise ValueShapeError(field, f"at most {MAX_QUESTIONS} questions")
    out: list[Question] = []
    seen: set[str] = set()
    for i, q in enumerate(questions):
        f = f"{field}[{i}]"
        if not isinstance(q, Mapping):
            raise ValueShapeError(f, "must be an object with 'id' and 'type'")
        qid = q.get("id")
        if not isinstance(qid, str) or not qid.strip() or "." in qid:
            raise ValueShapeError(f"{f}.id", "must be a non-empty name without dots")
        if qid in seen:
            raise ValueShapeError(f"{f}.id", f"question {qid!r} is defined twice")
        seen.add(qid)
        kind = q.get("type")
        if kind not in TYPES:
            raise ValueShapeError(f"{f}.type", f"must be one of {list(TYPES)}")
        required = q.get("required", kind in ("rating", "flag", "choice"))
        if not isinstance(required, bool):
            raise ValueShapeError(f"{f}.required", "must be true or false")
        text = q.get("text", "")
        if not isinstance(text, str):
            raise ValueShapeError(f"{f}.text", "must be a string (the question as shown)")
        norm: Question = {"id": qid, "type": kind, "text": text or qid, "required": required}
        if kind == "rating":
            scale = q.get("scale")
            if not _is_int(scale) or scale not in SCALES:
                raise ValueShapeError(f"{f}.scale", f"must be one of {list(SCALES)}")
            labels = q.get("labels")
            norm |= {"scale": scale,
                     "labels": [str(n) for n in range(1, scale + 1)] if labels is None
                     else _strings(labels, f"{f}.labels", scale)}
        elif kind == "choice":
            options = _strings(q.get("options"), f"{f}.options")
            if len(options) < 2:
                raise ValueShapeError(f"{f}.options", "needs at least two options")
            multiple = q.get("multiple", False)
            if not isinstance(multiple, bool):
                raise ValueShapeError(f"{f}.multiple", "must be true or false")
            norm |= {"options": options, "multiple": multiple}
        elif kind == "text":
            min_length = q.get("min_length", 0)
            if not _is_int(min_length) or not 0 <= min_length <= MAX_TEXT:
                raise ValueShapeError(f"{f}.min_length", f"must be an integer from 0 to {MAX_TEXT}")
            norm["min_length"] = min_length
        out.append(norm)
    return out


def _answer(q: Question, a: Any, f: str) -> Any:
    kind = q["type"]
    if kind == "rating":
        if not _is_int(a) or not 1 <= a <= q["scale"]:
            raise ValueShapeError(f, f"must be a rating from 1 to {q['scale']}")
        return a
    if kind == "flag":
        if not isinstance(a, bool):
            raise ValueShapeError(f, "must be true or false")
        return a
    if kind == "choice":
        options = q["options"]
        if q["multiple"]:
            if not isinstance(a, list):
                raise ValueShapeError(f, "must be a list of options")
            for i, x in enumerate(a):
                if x not in options:
                    raise ValueShapeError(f"{f}[{i}]", f"unknown option {x!r}; the options are {options}")
            return [o for o in options if o in a]
        if a not in options:
            raise ValueShapeError(f, f"unknown option {a!r}; the options are {options}")
        return a
    if not isinstance(a, str):
        raise ValueShapeError(f, "must be a string")
    text = a.strip()
    if len(text) > MAX_TEXT:
        raise ValueShapeError(f, f"must be at most {MAX_TEXT} characters")
    if text and len(text) < q["min_length"]:
        raise ValueShapeError(f, f"must be at least {q['min_length']} characters (it has {len(text)})")
    return text


def _blank(q: Question, a: Any) -> bool:
    return a is None or (q["type"] == "text" and isinstance(a, str) and not a.strip()) or (
        q["type"] == "choice" and bool(q.get("multiple")) and a == [])


def validate_answers(questions: Sequence[Question], answers: Any, field: str = "value.answers",
                     require: bool = True) -> dict[str, Any]:
    """Check answers against the (normalised) questions; return them normalised, blanks left out.

    `require`: every required question must be answered (annotators); reviewers may leave them out.
    """
    if answers is None:
        answers = {}
    if not isinstance(answers, Mapping):
        raise ValueShapeError(field, "must be an object of question id -> answer")
    by_id = {q["id"]: q for q in questions}
    for key in answers:
        if key not in by_id:
            known = list(by_id) or "none"
            raise ValueShapeError(f"{field}.{key}", f"unknown question; the project's questions are {known}")
    out: dict[str, Any] = {}
    for q in questions:
        a = answers.get(q["id"])
        f = f"{field}.{q['id']}"
        if _blank(q, a):
            if require and q["required"]:
                raise ValueShapeError(f, "is required")
            continue
        out[q["id"]] = _answer(q, a, f)
    return out


def validate_value_with_answers(task_type: str, labels: Sequence[str], questions: Sequence[Question], value: Any,
                                data: Mapping | None = None, field: str = "value",
                                require: bool = True) -> dict:
    """`tasks.values.validate_value` for the main label, plus the rubric's answers under "answers".

    A project without questions takes no answers (naming the first as unknown).
    """
    answers = value.get("answers") if isinstance(value, Mapping) else None
    main = validate_value(task_type, labels, value, data, field)
    if not questions and answers is None:
        return main
    checked = validate_answers(validate_questions(list(questions)), answers, f"{field}.answers", require)
    return {**main, "answers": checked}


def answers_of(value: Any) -> dict[str, Any]:
    """The answers a value carries ({} for none)."""
    found = value.get("answers") if isinstance(value, Mapping) else None
    return dict(found) if isinstance(found, Mapping) else {}


def _majority(xs: list[Any]) -> Any:
    top, count = Counter(xs).most_common(1)[0]
    return top if 2 * count > len(xs) else None


def aggregate(questions: Sequence[Question], values: Sequence[Any]) -> dict[str, Any]:
    """The final answers from the annotators' values, by the rules in the module docstring."""
    out: dict[str, Any] = {}
    for q in questions:
        given = [a[q["id"]] for a in map(answers_of, values) if a.get(q["id"]) is not None]
        if not given:
            continue
        kind = q["type"]
        result: Any = None
        if kind == "rating":
            result = statistics.median_low(given)
        elif kind == "flag":
            result = _majority(given)
        elif kind == "choice" and q.get("multiple"):
            n = len(given)
            result = [o for o in q["options"] if 2 * sum(o in g for g in given) > n]
        elif kind == "choice":
            result = _majority(given)
        elif kind == "text":
            result = given[0] if len(set(given)) == 1 else None
        if result is not None:
            out[q["id"]] = result
    return out


def rating_spreads(questions: Sequence[Question], values: Sequence[Any]) -> dict[str, int]:
    """For each rating question answered by two or more annotators: max - min of their ratings."""
    out: dict[str, int] = {}
    for q in questions:
        if q["type"] != "rating":
            continue
        given = [a[q["id"]] for a in map(answers_of, values) if _is_int(a.get(q["id"]))]
        if len(given) >= 2:
            out[q["id"]] = max(given) - min(given)
    return out


def low_agreement(questions: Sequence[Question], values: Sequence[Any], max_spread: float | None) -> bool:
    """Whether any rating question's ratings spread more than `max_spread` (None: never)."""
    if max_spread is None:
        return False
    return any(s > max_spread for s in rating_spreads(questions, values).values())


def suggestions(questions: Sequence[Question], raw: Any, field: str = "answers") -> dict[str, dict[str, Any]]:
    """A model's suggested answers, `{id: {"value": <answer>, "confidence"?: <0..1>}}`, checked against
    the (normalised) questions and returned as `{id: {"value", "confidence"}}` (confidence None if not
    given); the labeling form pre-selects them, marked "AI". Required questions may be left out."""
    if not isinstance(raw, Mapping):
        raise ValueShapeError(field, "must be an object of question id -> {value, confidence}")
    values: dict[str, Any] = {}
    confidences: dict[str, float | None] = {}
    for key, given in raw.items():
        if not isinstance(given, Mapping) or "value" not in given:
            raise ValueShapeError(f"{field}.{key}", "must be an object with 'value' (and 'confidence')")
        confidence = given.get("confidence")
        if confidence is not None and (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
                                       or not 0.0 <= confidence <= 1.0):
            raise ValueShapeError(f"{field}.{key}.confidence", "must be a probability between 0 and 1")
        values[key] = given["value"]
        confidences[key] = None if confidence is None else float(confidence)
    checked = validate_answers(questions, values, field, require=False)
    return {key: {"value": v, "confidence": confidences[key]} for key, v in checked.items()}
