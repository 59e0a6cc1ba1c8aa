"""A preference dataset (pairwise projects): JSON Lines of (prompt, chosen, rejected), the shape
reward-model and DPO trainers read.

    {"prompt": ..., "chosen": ..., "rejected": ..., "id": <item id>, "external_id": ...,
     "model_score": 0.8731, "model_version": 3}

One line per item whose final value chose `a` or `b`; the chosen text is that side of the item's
data, the rejected one the other. Items without a final value are left out, and so are ties: a tie
prefers neither answer. With the `ties=include` option ties are written too, `a` as "chosen" and
`b` as "rejected", and every line carries `"tie": true|false` so they can be told apart.

`model_score` is the project's active built-in reward model's probability that "chosen" is the
better answer, P(chosen preferred to rejected), computed when the file is written (4 decimals), and
`model_version` that model's version; both are null without an active built-in model (or an
external one, which an export never calls). Use it to sort or filter pairs (a low score on a human
choice marks a pair worth a second look) or as a soft label. The items the version was trained on
get in-sample scores, which lean towards the human choice; the held-out fifth of the labeled items
(`models_registry.holdout`) and items labeled after the version was trained get honest ones.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from models_registry.serving import ActiveModel, active_builtin

if TYPE_CHECKING:
    from dataio.export import Spec

OTHER = {"a": "b", "b": "a"}


def _scores(model: ActiveModel | None, pairs: list[dict], chosen: list[str]) -> list[float | None]:
    """P(chosen side preferred) per pair, by the active model (None without one)."""
    if model is None or not pairs:
        return [None] * len(pairs)
    predicted = model.predict(pairs)
    return [round(float(scores[side]), 4) if ok else None
            for scores, side, ok in zip(predicted.scores, chosen, predicted.ok)]


def write(spec: Spec) -> Iterator[bytes]:
    """The preference lines of the selected items, a chunk at a time."""
    model = active_builtin(spec.project)
    version = model.version if model is not None else None
    for chunk in spec.chunks(annotations=False, reviews=False):
        lines, pairs, sides = [], [], []
        for row in chunk.items:
            choice = (orjson.loads(row.final_value_json) or {}).get("choice") if row.final_value_json else None
            tie = choice == "tie"
            if choice not in OTHER and not (tie and spec.ties):
                continue
            data = orjson.loads(row.data_json)
            chosen = "a" if tie else str(choice)
            line = {"prompt": data.get("prompt"), "chosen": data.get(chosen), "rejected": data.get(OTHER[chosen]),
                    "id": row.id, "external_id": row.external_id}
            if spec.ties:
                line["tie"] = tie
            lines.append(line)
            pairs.append(data)
            sides.append(chosen)
        for line, score in zip(lines, _scores(model, pairs, sides)):
            line["model_score"] = score
            line["model_version"] = version
        if lines:
            yield b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)
