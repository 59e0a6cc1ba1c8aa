"""A live decision's rules: accepted at once, or to a person. Pure logic, no ORM.

A project's rules (`decisions.models.DecisionRules`) refine its routing thresholds
(`tasks.routing`) for decisions:
- `class_thresholds` {"fraud": 0.99}: the auto-accept threshold for a predicted label, instead of
  the project's `auto_accept_threshold` (a multi-label prediction takes its strictest label's);
- `field_rules` [{"field": "amount", "op": ">", "value": 1000, "then": "human"}]: a decision whose
  metadata matches goes to a person whatever its confidence.

A decision pending for a person is served by deadline first: its item's queue priority is
`DEADLINE_BASE` plus a number in (0, 1) that falls as the deadline grows, above normal work
(the model strategies' [0, 1]) and the adaptive overlap's [2, 3).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OPS = ("==", "!=", ">", ">=", "<", "<=", "in")
THEN = ("human",)
FALLBACKS = ("accept_model", "reject", "escalate")
DEADLINE_BASE = 10.0
MAX_DEADLINE_SECONDS = 7 * 24 * 3600


class RuleError(ValueError):
    """A rule that cannot be applied; `field` names where (for a 400 answer)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FieldRule:
    field: str
    op: str
    value: Any
    then: str = "human"

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        if self.field not in metadata:
            return False
        got = metadata[self.field]
        try:
            if self.op == "==":
                return bool(got == self.value)
            if self.op == "!=":
                return bool(got != self.value)
            if self.op == "in":
                return got in self.value
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                return False  # an order compares numbers only: "abc" > 1000 is no match
            return bool({">": got > self.value, ">=": got >= self.value, "<": got < self.value,
                         "<=": got <= self.value}[self.op])
        except TypeError:
            return False


@dataclass(frozen=True)
class Rules:
    auto_accept: float | None
    class_thresholds: Mapping[str, float]
    field_rules: Sequence[FieldRule]


@dataclass(frozen=True)
class Verdict:
    """Whether a decision is accepted at once, and why (for the audit trail)."""

    accept: bool
    reason: str


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def check_class_thresholds(raw: Any, field: str = "class_thresholds") -> dict[str, float]:
    """{"label": threshold in [0, 1]}, or RuleError."""
    if not isinstance(raw, Mapping):
        raise RuleError(field, "must be an object of label: threshold")
    out = {}
    for label, t in raw.items():
        if not _number(t) or not 0.0 <= t <= 1.0:
            raise RuleError(f"{field}.{label}", "must be a number between 0 and 1")
        out[str(label)] = float(t)
    return out


def check_field_rules(raw: Any, field: str = "field_rules") -> list[FieldRule]:
    """A list of {"field", "op", "value", "then"}, or RuleError."""
    if not isinstance(raw, list):
        raise RuleError(field, "must be a list of rules")
    rules = []
    for k, r in enumerate(raw):
        where = f"{field}[{k}]"
        if not isinstance(r, Mapping) or not isinstance(r.get("field"), str) or not r["field"]:
            raise RuleError(where, 'must be an object with a "field" name')
        if r.get("op") not in OPS:
            raise RuleError(f"{where}.op", f"must be one of {list(OPS)}")
        if "value" not in r:
            raise RuleError(f"{where}.value", "is required")
        if r["op"] in (">", ">=", "<", "<=") and not _number(r["value"]):
            raise RuleError(f"{where}.value", "must be a number")
        if r["op"] == "in" and not isinstance(r["value"], list):
            raise RuleError(f"{where}.value", "must be a list")
        then = r.get("then", "human")
        if then not in THEN:
            raise RuleError(f"{where}.then", f"must be one of {list(THEN)}")
        rules.append(FieldRule(r["field"], r["op"], r["value"], then))
    return rules


def predicted_labels(value: Any) -> list[str]:
    """The labels a prediction names: {"label": x} or {"labels": [...]}; none for other task types."""
    if not isinstance(value, Mapping):
        return []
    if isinstance(value.get("label"), str):
        return [value["label"]]
    if isinstance(value.get("labels"), list):
        return [x for x in value["labels"] if isinstance(x, str)]
    return []


def threshold_for(rules: Rules, labels: Sequence[str]) -> float | None:
    """The auto-accept threshold for a prediction of `labels`: the strictest per-class one, else the project's."""
    own = [rules.class_thresholds[x] for x in labels if x in rules.class_thresholds]
    return max(own) if own else rules.auto_accept


def judge(rules: Rules, *, value: Any, confidence: float | None, metadata: Mapping[str, Any]) -> Verdict:
    """Accept the caller's (or the model's) prediction at once, or send the decision to a person."""
    for r in rules.field_rules:
        if r.matches(metadata):
            return Verdict(False, f"metadata {r.field} {r.op} {r.value!r}: {r.then}")
    if value is None or confidence is None:
        return Verdict(False, "no prediction with a confidence")
    threshold = threshold_for(rules, predicted_labels(value))
    if threshold is None:
        return Verdict(False, "the project accepts nothing automatically")
    if confidence >= threshold:
        return Verdict(True, f"confidence {confidence} >= {threshold}")
    return Verdict(False, f"confidence {confidence} < {threshold}")


def check_deadline_seconds(raw: Any, field: str = "deadline_seconds") -> float:
    """Seconds from now, more than 0 and at most a week."""
    if not _number(raw) or raw <= 0 or raw > MAX_DEADLINE_SECONDS:
        raise RuleError(field, f"must be a number of seconds above 0 and at most {MAX_DEADLINE_SECONDS}")
    return float(raw)


def deadline_priority(deadline_epoch: float) -> float:
    """Queue priority of a pending decision's item: in (DEADLINE_BASE, DEADLINE_BASE + 1), earlier deadlines higher."""
    return DEADLINE_BASE + 1e9 / (1e9 + max(deadline_epoch, 0.0))
