"""Gold (honeypot) items: served to every annotator at the project's rate, never shown as gold."""
from __future__ import annotations

import pytest

from annotations.models import Annotation
from tasks.models import Item, ItemStatus
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def gold_item(project, label="pos") -> Item:
    [item] = make_items(project, 1, gold={"label": label}, final_value={"label": label}, final_source="gold",
                        status=ItemStatus.DONE)
    return item


def test_every_annotator_gets_each_gold_item_once_and_it_looks_like_any_other(as_user, annotator, annotator2,
                                                                             project):
    project.gold_rate = 1.0
    project.save()
    gold = gold_item(project)
    normal = {item.pk for item in make_items(project, 2)}

    for user in (annotator, annotator2):
        client = as_user(user)
        body = client.get(f"/api/projects/{project.pk}/next/").json()
        assert body["item"]["id"] == gold.pk
        assert body["item"]["status"] == "queued" and "gold" not in body["item"] and body["prediction"] is None
        assert client.post(f"/api/items/{gold.pk}/annotations/", {"value": {"label": "neg"}},
                           format="json").status_code == 201
        assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] in normal

    gold.refresh_from_db()
    assert (gold.status, gold.final_source, gold.final_value) == (ItemStatus.DONE, "gold", {"label": "pos"})
    assert Annotation.objects.filter(item=gold).count() == 2


def test_with_a_zero_rate_gold_items_are_never_served(as_user, annotator, project):
    project.gold_rate = 0.0
    project.save()
    gold_item(project)
    [normal] = make_items(project, 1)

    client = as_user(annotator)
    assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == normal.pk
    client.post(f"/api/items/{normal.pk}/annotations/", {"value": {"label": "pos"}}, format="json")
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 204


def test_an_annotator_may_undo_a_gold_answer_and_the_gold_value_stays(as_user, annotator, project):
    project.gold_rate = 1.0
    project.save()
    gold = gold_item(project)
    client = as_user(annotator)
    client.get(f"/api/projects/{project.pk}/next/")
    client.post(f"/api/items/{gold.pk}/annotations/", {"value": {"label": "neg"}}, format="json")

    assert client.post(f"/api/items/{gold.pk}/annotations/undo/").status_code == 200

    gold.refresh_from_db()
    assert (gold.status, gold.final_source) == (ItemStatus.DONE, "gold")
    assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == gold.pk


def test_gold_rate_is_a_share(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"gold_rate": 1.5}, format="json")
    assert r.status_code == 400 and "gold_rate" in r.json()
