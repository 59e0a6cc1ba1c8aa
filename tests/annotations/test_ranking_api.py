"""Ranking projects through the API: creation without labels, a value ranking every response once, consensus."""
from __future__ import annotations

import pytest

from annotations.models import Annotation
from tasks.models import Item, ItemStatus
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

DATA = {"prompt": "Which review is warmest?",
        "responses": [{"id": f"r{i}", "text": f"review {i}"} for i in range(1, 5)]}


def ranking_item(admin, members, **fields) -> Item:
    project = make_project(admin, members, name="Rank", task_type="ranking", labels=[], **fields)
    return Item.objects.create(project=project, data=DATA, needed=project.overlap)


def submit(client, item, value):
    return client.post(f"/api/items/{item.pk}/annotations/", {"value": value}, format="json")


def test_admin_creates_a_ranking_project_without_labels(as_user, admin):
    r = as_user(admin).post("/api/projects/", {"name": "Rank", "task_type": "ranking", "labels": []}, format="json")

    assert r.status_code == 201, r.json()
    assert r.json()["task_type"] == "ranking"


def test_annotator_submits_a_ranking_with_ties(as_user, admin, annotator):
    item = ranking_item(admin, [annotator])

    r = submit(as_user(annotator), item, {"ranking": [["r2"], ["r1", "r3"], ["r4"]]})

    assert r.status_code == 201, r.json()
    assert Annotation.objects.get(item=item).value == {"ranking": [["r2"], ["r1", "r3"], ["r4"]]}
    item.refresh_from_db()
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"ranking": [["r2"], ["r1", "r3"], ["r4"]]})


@pytest.mark.parametrize(("value", "field", "says"), [
    ({"ranking": [["r2"], ["r1", "r3"]]}, "value.ranking", "'r4' is not ranked"),
    ({"ranking": [["r2"], ["r1", "r3"], ["r4", "r2"]]}, "value.ranking[2][1]", "'r2' is ranked twice"),
])
def test_a_ranking_that_misses_or_repeats_a_response_is_400_and_nothing_is_stored(as_user, admin, annotator,
                                                                                  value, field, says):
    item = ranking_item(admin, [annotator])

    r = submit(as_user(annotator), item, value)

    assert r.status_code == 400
    assert says in str(r.json()[field])
    assert not Annotation.objects.filter(item=item).exists()


@pytest.mark.parametrize(("threshold", "status"), [(0.9, ItemStatus.DONE), (0.95, ItemStatus.IN_REVIEW)])
def test_two_close_rankings_settle_by_the_projects_threshold(as_user, admin, annotator, annotator2, threshold, status):
    item = ranking_item(admin, [annotator, annotator2], overlap=2, consensus_iou=threshold)

    # Rank sums 3 3 6 8 (mean 5): S = 18, W = 12·18 / (2²·(4³ - 4)) = 0.9.
    assert submit(as_user(annotator), item, {"ranking": [["r1"], ["r2"], ["r3"], ["r4"]]}).status_code == 201
    assert submit(as_user(annotator2), item, {"ranking": [["r2"], ["r1"], ["r3"], ["r4"]]}).status_code == 201

    item.refresh_from_db()
    assert item.status == status
    if status == ItemStatus.DONE:
        assert item.final_value == {"ranking": [["r1", "r2"], ["r3"], ["r4"]]}
