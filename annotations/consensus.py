"""From annotators' values to a final value. Pure functions, no ORM."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Outcome:
    agreed: bool
    value: Any  # the agreed value, or None


def _canonical(value: Any) -> bytes:
    """Values that mean the same compare equal (key order, label order in multi_label)."""
    if isinstance(value, dict) and isinstance(value.get("labels"), list):
        value = {**value, "labels": sorted(value["labels"])}
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def unanimous(values: Sequence[Any]) -> Outcome:
    """Agreed when every value is the same; otherwise a disagreement for reviewers."""
    if not values:
        return Outcome(False, None)
    first = _canonical(values[0])
    if all(_canonical(v) == first for v in values[1:]):
        return Outcome(True, values[0])
    return Outcome(False, None)
