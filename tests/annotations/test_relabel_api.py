"""The label rename and merge endpoints: admins only, counts of rewritten rows, a 400 naming the field."""
from __future__ import annotations

import pytest
import yaml

from annotations.models import Annotation
from tasks.models import Item, Project
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(project, annotator):
    """Two items, both annotated: "pos" and "neg"; the first one's final value is "pos"."""
    first, second = make_items(project, 2)
    Annotation.objects.create(project=project, item=first, user=annotator, value={"label": "pos"})
    Annotation.objects.create(project=project, item=second, user=annotator, value={"label": "neg"})
    Item.objects.filter(pk=first.pk).update(final_value={"label": "pos"}, final_source="consensus")
    return project


def test_admin_renames_a_label_and_gets_the_counts(as_user, admin, labeled):
    r = as_user(admin).post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "pos", "to": "positive"},
                            format="json")

    assert r.status_code == 200, r.json()
    body = r.json()
    assert (body["labels"], body["counts"]["annotations"], body["counts"]["final_values"]) == (
        ["positive", "neg"], 1, 1)
    assert sorted(Annotation.objects.values_list("value__label", flat=True)) == ["neg", "positive"]
    assert Project.objects.get().labels == ["positive", "neg"]


def test_admin_merges_labels(as_user, admin, labeled):
    r = as_user(admin).post(f"/api/projects/{labeled.pk}/labels/merge/", {"from": ["neg"], "to": "pos"},
                            format="json")

    assert r.status_code == 200 and r.json()["counts"]["annotations"] == 1
    assert list(Annotation.objects.values_list("value__label", flat=True)) == ["pos", "pos"]
    assert Project.objects.get().labels == ["pos"]


def test_rename_onto_an_existing_label_says_merge_instead_unless_asked(as_user, admin, labeled):
    client = as_user(admin)
    r = client.post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "neg", "to": "pos"}, format="json")
    assert r.status_code == 400 and r.json() == {"to": ["'pos' is already a label; merge instead."]}
    assert Project.objects.get().labels == ["pos", "neg"]

    r = client.post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "neg", "to": "pos", "merge": True},
                    format="json")
    assert r.status_code == 200 and Project.objects.get().labels == ["pos"]


@pytest.mark.parametrize("path, body, field", [
    ("rename", {"from": "nope", "to": "x"}, "from"),
    ("rename", {"from": "pos"}, "to"),
    ("rename", {"from": "pos", "to": "x", "merge": "yes"}, "merge"),
    ("merge", {"from": ["nope"], "to": "pos"}, "from"),
    ("merge", {"from": "neg", "to": "nope"}, "to"),
    ("merge", {"to": "pos"}, "from"),
])
def test_a_bad_request_is_400_naming_the_field(as_user, admin, labeled, path, body, field):
    r = as_user(admin).post(f"/api/projects/{labeled.pk}/labels/{path}/", body, format="json")
    assert r.status_code == 400 and list(r.json()) == [field]
    assert Project.objects.get().labels == ["pos", "neg"]


@pytest.mark.parametrize("who", ["annotator", "reviewer", "ml_engineer"])
def test_only_admins_rename_merge_or_count(request, as_user, labeled, who):
    client = as_user(request.getfixturevalue(who))
    assert client.post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "pos", "to": "x"},
                       format="json").status_code == 403
    assert client.post(f"/api/projects/{labeled.pk}/labels/merge/", {"from": ["neg"], "to": "pos"},
                       format="json").status_code == 403
    assert client.get(f"/api/projects/{labeled.pk}/labels/usage/?label=pos").status_code == 403
    assert Project.objects.get().labels == ["pos", "neg"]


def test_outsiders_get_404_and_anonymous_401(as_user, outsider, labeled):
    assert as_user(outsider).post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "pos", "to": "x"},
                                  format="json").status_code == 404
    assert as_user(None).post(f"/api/projects/{labeled.pk}/labels/rename/", {"from": "pos", "to": "x"},
                              format="json").status_code == 401


def test_usage_counts_what_a_change_would_touch(as_user, admin, labeled):
    r = as_user(admin).get(f"/api/projects/{labeled.pk}/labels/usage/?label=pos")
    assert r.status_code == 200 and (r.json()["annotations"], r.json()["final_values"]) == (1, 1)
    r = as_user(admin).get(f"/api/projects/{labeled.pk}/labels/usage/?label=nope")
    assert r.status_code == 400 and list(r.json()) == ["label"]


def test_the_schema_documents_the_label_endpoints(as_user, admin):
    schema = yaml.safe_load(as_user(admin).get("/api/schema/").content)
    assert {"/api/projects/{id}/labels/rename/", "/api/projects/{id}/labels/merge/",
            "/api/projects/{id}/labels/usage/"} <= set(schema["paths"])
