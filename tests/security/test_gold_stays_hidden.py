"""Annotators are scored on gold items, so nothing they can read tells a gold item from any other:
not `next` (tests/tasks/test_gold_items.py), nor the item list, its status filter, or the item itself."""
from __future__ import annotations

import pytest

from tasks.models import ItemStatus
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(project):
    [gold] = make_items(project, 1, gold={"label": "pos"}, final_value={"label": "pos"}, final_source="gold",
                        status=ItemStatus.DONE)
    [queued] = make_items(project, 1, status=ItemStatus.QUEUED)
    [done] = make_items(project, 1, final_value={"label": "neg"}, final_source="consensus", status=ItemStatus.DONE)
    return gold, queued, done


def listed(client, project, **params) -> dict[int, dict]:
    r = client.get(f"/api/projects/{project.pk}/items/", params)
    assert r.status_code == 200
    return {row["id"]: row for row in r.json()["results"]}


def test_annotators_see_a_gold_item_as_a_queued_one(as_user, annotator, project, items):
    gold, queued, done = items
    client = as_user(annotator)

    everything = listed(client, project)
    detail = client.get(f"/api/items/{gold.pk}/").json()

    assert (everything[gold.pk]["status"], everything[gold.pk]["final"]) == ("queued", None)
    assert (detail["status"], detail["final"]) == ("queued", None)
    assert set(listed(client, project, status="done")) == {done.pk}
    assert set(listed(client, project, status="queued")) == {gold.pk, queued.pk}


@pytest.mark.parametrize("persona", ["reviewer", "ml_engineer", "admin"])
def test_reviewers_ml_engineers_and_admins_see_gold_as_gold(as_user, request, project, items, persona):
    gold, queued, done = items
    client = as_user(request.getfixturevalue(persona))

    row = listed(client, project)[gold.pk]

    assert (row["status"], row["final"]["source"]) == ("done", "gold")
    assert set(listed(client, project, status="done")) == {gold.pk, done.pk}
    assert client.get(f"/api/items/{gold.pk}/").json()["status"] == "done"
