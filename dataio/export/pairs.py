"""Preference pairs of ranking projects: every pair a final ranking implies, for reward-model and DPO training.

    {"prompt": ..., "chosen": <text>, "rejected": <text>, "chosen_id": "r2", "rejected_id": "r4",
     "id": <item id>, "external_id": ...}

One line per pair of responses where "chosen" is ranked strictly above "rejected" in the item's final
value; tied responses give no pair. Pairs come best "chosen" first, then in ranking order of
"rejected", so a strict ranking of n responses gives n(n-1)/2 lines. Items without a final value
are left out.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from dataio.export import Spec


def implied_pairs(ranking: list[list[str]]) -> Iterator[tuple[str, str]]:
    """(chosen, rejected) for every two responses in different groups, the better group's first."""
    for i, better in enumerate(ranking):
        for worse in ranking[i + 1:]:
            for chosen in better:
                for rejected in worse:
                    yield chosen, rejected


def write(spec: Spec) -> Iterator[bytes]:
    """The pair lines of the selected items, a chunk at a time."""
    for chunk in spec.chunks(annotations=False, reviews=False):
        lines = []
        for row in chunk.items:
            final = orjson.loads(row.final_value_json) if row.final_value_json else None
            ranking = final.get("ranking") if isinstance(final, dict) else None
            if not isinstance(ranking, list):
                continue
            data = orjson.loads(row.data_json)
            texts = {r.get("id"): r.get("text") for r in data.get("responses") or [] if isinstance(r, dict)}
            for chosen, rejected in implied_pairs(ranking):
                lines.append({"prompt": data.get("prompt"), "chosen": texts.get(chosen),
                              "rejected": texts.get(rejected), "chosen_id": chosen, "rejected_id": rejected,
                              "id": row.id, "external_id": row.external_id})
        if lines:
            yield b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)
