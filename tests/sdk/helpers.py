"""Records for the SDK tests: short movie reviews a bag-of-words model separates."""
from __future__ import annotations

import random

POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "superb", "moving", "fun"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "weak", "messy", "bad"]


def reviews(n: int, *, gold: int = 0, seed: int = 0, prefix: str = "r") -> list[dict]:
    """`n` records, the first `gold` of them with a gold label; every other one positive."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(POSITIVE if label == "pos" else NEGATIVE, 3)
        record: dict = {"data": {"text": f"a {' and '.join(words)} film"}, "external_id": f"{prefix}{i}"}
        if i < gold:
            record["gold"] = {"label": label}
        out.append(record)
    return out
