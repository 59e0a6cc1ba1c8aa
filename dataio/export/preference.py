"""A preference dataset (pairwise projects): JSON Lines of (prompt, chosen, rejected), the shape
reward-model and DPO trainers read.

    {"prompt": ..., "chosen": ..., "rejected": ..., "id": <item id>, "external_id": ...}

One line per item whose final value chose `a` or `b`; the chosen text is that side of the item's
data, the rejected one the other. Items without a final value are left out, and so are ties: a tie
prefers neither answer. With the `ties=include` option ties are written too, `a` as "chosen" and
`b` as "rejected", and every line carries `"tie": true|false` so they can be told apart.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from dataio.export import Spec

OTHER = {"a": "b", "b": "a"}


def write(spec: Spec) -> Iterator[bytes]:
    """The preference lines of the selected items, a chunk at a time."""
    for chunk in spec.chunks(annotations=False, reviews=False):
        lines = []
        for row in chunk.items:
            choice = (orjson.loads(row.final_value_json) or {}).get("choice") if row.final_value_json else None
            tie = choice == "tie"
            if choice not in OTHER and not (tie and spec.ties):
                continue
            data = orjson.loads(row.data_json)
            chosen = "a" if tie else choice
            line = {"prompt": data.get("prompt"), "chosen": data.get(chosen), "rejected": data.get(OTHER[chosen]),
                    "id": row.id, "external_id": row.external_id}
            if spec.ties:
                line["tie"] = tie
            lines.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        if lines:
            yield b"".join(lines)
