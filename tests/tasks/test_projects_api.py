"""Projects: creation with API.md's defaults, validation, visibility and settings changes."""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tasks.models import Item, ItemStatus, Membership, Project
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db

VALID = {"name": "Sentiment", "task_type": "classification", "labels": ["pos", "neg"]}


def create(client, **fields):
    return client.post("/api/projects/", {**VALID, **fields}, format="json")


# --- create -----------------------------------------------------------------------------------

def test_admin_creates_project_with_documented_defaults(as_user, admin):
    r = create(as_user(admin))

    assert r.status_code == 201
    body = r.json()
    project = Project.objects.get()
    assert body["id"] == project.pk
    assert {k: body[k] for k in (
        "name", "task_type", "labels", "instructions", "overlap", "auto_accept_threshold", "escalation_threshold",
        "escalated_overlap", "audit_rate", "strategy", "retrain_every",
    )} == {
        "name": "Sentiment", "task_type": "classification", "labels": ["pos", "neg"], "instructions": "",
        "overlap": 1, "auto_accept_threshold": None, "escalation_threshold": None, "escalated_overlap": 2,
        "audit_rate": 0.05, "strategy": "least_confidence", "retrain_every": None,
    }
    assert project.created_by == admin
    assert project.overlap == 1 and project.audit_rate == 0.05 and project.strategy == "least_confidence"
    assert project.escalated_overlap is None  # follows overlap until set


def test_creator_becomes_a_member_and_creation_is_audited(as_user, admin):
    create(as_user(admin))

    project = Project.objects.get()
    assert Membership.objects.filter(project=project, user=admin).exists()
    event = AuditEvent.objects.get(action="project.created")
    assert event.project_id == project.pk and event.user_id == admin.pk


def test_escalated_overlap_defaults_to_overlap_plus_one(as_user, admin):
    r = create(as_user(admin), overlap=3)

    assert r.status_code == 201
    assert r.json()["escalated_overlap"] == 4
    assert Project.objects.get().effective_escalated_overlap == 4


def test_admin_sets_every_setting(as_user, admin):
    settings = {
        "instructions": "Be kind.", "overlap": 2, "auto_accept_threshold": 0.9, "escalation_threshold": 0.4,
        "escalated_overlap": 3, "audit_rate": 0.1, "strategy": "margin", "retrain_every": 100,
        "lease_seconds": 300,
    }

    r = create(as_user(admin), **settings)

    assert r.status_code == 201
    assert {k: r.json()[k] for k in settings} == settings
    project = Project.objects.get()
    assert {k: getattr(project, k) for k in settings} == settings


@pytest.mark.parametrize("task_type", ["classification", "multi_label", "spans", "boxes", "pairwise"])
def test_admin_creates_project_of_each_task_type(as_user, admin, task_type):
    r = create(as_user(admin), task_type=task_type)

    assert r.status_code == 201
    assert Project.objects.get().task_type == task_type


def test_pairwise_project_may_have_no_labels(as_user, admin):
    r = create(as_user(admin), task_type="pairwise", labels=[])

    assert r.status_code == 201
    assert Project.objects.get().labels == []


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admins_cannot_create_project(as_user, request, persona):
    r = create(as_user(request.getfixturevalue(persona)))

    assert r.status_code == 403
    assert not Project.objects.exists()


def test_non_admin_is_refused_before_the_body_is_validated(as_user, annotator):
    r = create(as_user(annotator), task_type="nonsense")

    assert r.status_code == 403
    assert not Project.objects.exists()


@pytest.mark.parametrize(("fields", "field"), [
    ({"task_type": "sentiment"}, "task_type"),
    ({"strategy": "smartest"}, "strategy"),
    ({"auto_accept_threshold": 1.5}, "auto_accept_threshold"),
    ({"auto_accept_threshold": -0.1}, "auto_accept_threshold"),
    ({"escalation_threshold": 2}, "escalation_threshold"),
    ({"escalation_threshold": -1}, "escalation_threshold"),
    ({"audit_rate": 1.01}, "audit_rate"),
    ({"audit_rate": None}, "audit_rate"),
    ({"auto_accept_threshold": 0.5, "escalation_threshold": 0.8}, "escalation_threshold"),
    ({"overlap": 3, "escalated_overlap": 2}, "escalated_overlap"),
    ({"overlap": 0}, "overlap"),
    ({"escalated_overlap": 0}, "escalated_overlap"),
    ({"escalated_overlap": 100000}, "escalated_overlap"),
    ({"labels": []}, "labels"),
    ({"labels": ["pos", "pos"]}, "labels"),
    ({"labels": ["pos", ""]}, "labels"),
    ({"labels": "pos"}, "labels"),
    ({"lease_seconds": 1}, "lease_seconds"),
    ({"retrain_every": -5}, "retrain_every"),
    ({"name": ""}, "name"),
])
def test_invalid_settings_are_refused_naming_the_field(as_user, admin, fields, field):
    r = create(as_user(admin), **fields)

    assert r.status_code == 400
    assert field in r.json()
    assert not Project.objects.exists()


@pytest.mark.parametrize("field", ["name", "task_type", "labels"])
def test_required_fields_are_required(as_user, admin, field):
    body = {k: v for k, v in VALID.items() if k != field}

    r = as_user(admin).post("/api/projects/", body, format="json")

    assert r.status_code == 400
    assert field in r.json()
    assert not Project.objects.exists()


@pytest.mark.parametrize("task_type", ["classification", "multi_label", "spans", "boxes"])
def test_labelled_task_types_need_labels(as_user, admin, task_type):
    r = create(as_user(admin), task_type=task_type, labels=[])

    assert r.status_code == 400
    assert "labels" in r.json()
    assert not Project.objects.exists()


def test_thresholds_at_the_bounds_are_accepted(as_user, admin):
    r = create(as_user(admin), auto_accept_threshold=1.0, escalation_threshold=0.0, audit_rate=0.0)

    assert r.status_code == 201
    project = Project.objects.get()
    assert (project.auto_accept_threshold, project.escalation_threshold, project.audit_rate) == (1.0, 0.0, 0.0)


# --- list and read ----------------------------------------------------------------------------

def test_non_admin_lists_only_member_projects(as_user, admin, annotator):
    mine = make_project(admin, [annotator], name="Mine")
    make_project(admin, name="Not mine")

    r = as_user(annotator).get("/api/projects/")

    assert r.status_code == 200
    assert [p["id"] for p in r.json()["results"]] == [mine.pk]


def test_admin_lists_every_project(as_user, admin, annotator):
    theirs = make_project(annotator, name="Made by someone else, admin not a member")
    mine = make_project(admin, name="Mine")

    r = as_user(admin).get("/api/projects/")

    assert [p["id"] for p in r.json()["results"]] == [theirs.pk, mine.pk]


def test_member_reads_project(as_user, project, annotator):
    r = as_user(annotator).get(f"/api/projects/{project.pk}/")

    assert r.status_code == 200
    assert r.json()["name"] == "Reviews"
    assert r.json()["labels"] == ["pos", "neg"]


def test_denies_outsider_to_read_project(as_user, project, outsider):
    assert as_user(outsider).get(f"/api/projects/{project.pk}/").status_code == 404


def test_unknown_project_is_404(as_user, admin):
    assert as_user(admin).get("/api/projects/999999/").status_code == 404


def test_project_list_is_paginated(as_user, admin):
    for i in range(3):
        make_project(admin, name=f"P{i}")

    r = as_user(admin).get("/api/projects/?page_size=2")

    assert r.json()["count"] == 3
    assert len(r.json()["results"]) == 2
    assert r.json()["next"]


# --- update -----------------------------------------------------------------------------------

def test_admin_updates_settings_and_the_change_is_audited(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"auto_accept_threshold": 0.95, "name": "Renamed"},
                             format="json")

    assert r.status_code == 200
    assert r.json()["auto_accept_threshold"] == 0.95
    project.refresh_from_db()
    assert (project.name, project.auto_accept_threshold) == ("Renamed", 0.95)
    event = AuditEvent.objects.get(action="project.updated")
    assert event.user_id == admin.pk and event.project_id == project.pk
    assert event.payload["changed"] == {
        "name": {"from": "Reviews", "to": "Renamed"},
        "auto_accept_threshold": {"from": None, "to": 0.95},
    }


def test_unchanged_settings_write_no_audit_event(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"name": "Reviews"}, format="json")

    assert r.status_code == 200
    assert not AuditEvent.objects.filter(action="project.updated").exists()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admin_members_cannot_change_settings(as_user, request, project, persona):
    r = as_user(request.getfixturevalue(persona)).patch(
        f"/api/projects/{project.pk}/", {"auto_accept_threshold": 0.1}, format="json")

    assert r.status_code == 403
    project.refresh_from_db()
    assert project.auto_accept_threshold is None
    assert not AuditEvent.objects.filter(action="project.updated").exists()


def test_non_admin_is_refused_before_the_patch_is_validated(as_user, project, annotator):
    r = as_user(annotator).patch(f"/api/projects/{project.pk}/", {"overlap": 0}, format="json")

    assert r.status_code == 403


def test_outsider_cannot_change_settings(as_user, project, outsider):
    r = as_user(outsider).patch(f"/api/projects/{project.pk}/", {"name": "Mine now"}, format="json")

    assert r.status_code == 404
    project.refresh_from_db()
    assert project.name == "Reviews"


def test_put_is_not_allowed(as_user, admin, project):
    r = as_user(admin).put(f"/api/projects/{project.pk}/", VALID, format="json")

    assert r.status_code == 405


@pytest.mark.parametrize(("fields", "field"), [
    ({"auto_accept_threshold": 7}, "auto_accept_threshold"),
    ({"labels": []}, "labels"),
    ({"overlap": 5, "escalated_overlap": 2}, "escalated_overlap"),
    ({"strategy": "best"}, "strategy"),
])
def test_invalid_update_is_refused_naming_the_field(as_user, admin, project, fields, field):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", fields, format="json")

    assert r.status_code == 400
    assert field in r.json()
    project.refresh_from_db()
    assert (project.overlap, project.labels, project.strategy) == (1, ["pos", "neg"], "least_confidence")


def test_update_is_checked_against_stored_settings(as_user, admin, project):
    project.auto_accept_threshold = 0.6
    project.save()

    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"escalation_threshold": 0.7}, format="json")

    assert r.status_code == 400
    assert "escalation_threshold" in r.json()


def test_raising_overlap_above_stored_escalated_overlap_is_refused(as_user, admin, project):
    project.escalated_overlap = 2
    project.save()

    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 3}, format="json")

    assert r.status_code == 400
    assert "escalated_overlap" in r.json()


def test_task_type_cannot_change_once_items_exist(as_user, admin, project):
    make_items(project, 1)

    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"task_type": "multi_label"}, format="json")

    assert r.status_code == 400
    assert "task_type" in r.json()
    project.refresh_from_db()
    assert project.task_type == "classification"


def test_task_type_may_change_while_empty(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"task_type": "multi_label"}, format="json")

    assert r.status_code == 200
    project.refresh_from_db()
    assert project.task_type == "multi_label"


def test_new_overlap_applies_to_waiting_items(as_user, admin, project):
    waiting = make_items(project, 2)
    finished = make_items(project, 1, status=ItemStatus.DONE)

    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 3}, format="json")

    assert r.status_code == 200
    assert [Item.objects.get(pk=i.pk).needed for i in waiting] == [3, 3]
    assert Item.objects.get(pk=finished[0].pk).needed == 1
    assert r.json()["escalated_overlap"] == 4


def test_lowering_overlap_leaves_an_item_that_already_has_enough_waiting_for_its_own_count(
        as_user, admin, annotator, annotator2, project):
    project.overlap = 2
    project.save()
    [item] = make_items(project, 1)
    as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "pos"}}, format="json")

    as_user(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 1}, format="json")

    item.refresh_from_db()
    assert item.needed == 2
    r = as_user(annotator2).get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 200 and r.json()["item"]["id"] == item.pk


def test_an_external_model_needs_its_endpoint(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"model_backend": "http"}, format="json")
    assert r.status_code == 400 and "model_endpoint" in r.json()

    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {
        "model_backend": "http", "model_endpoint": "http://127.0.0.1:9/predict", "model_timeout": 5}, format="json")
    assert r.status_code == 200
    project.refresh_from_db()
    assert (project.model_backend, project.model_endpoint, project.model_timeout) == (
        "http", "http://127.0.0.1:9/predict", 5.0)
