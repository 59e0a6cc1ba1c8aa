"""Undo: an annotator takes back their last submission while its lease time lasts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Annotation
from audit.models import AuditEvent
from tasks.models import Assignment, ItemStatus, LeaseState
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def submit(client, item, value=None, **extra):
    body = {"value": value, **extra} if value is not None else extra
    return client.post(f"/api/items/{item.pk}/annotations/", body, format="json")


def undo(client, item):
    return client.post(f"/api/items/{item.pk}/annotations/undo/")


def test_undo_takes_back_a_settled_annotation_and_leases_the_item_back(as_user, annotator, project):
    [item] = make_items(project, 1)
    client = as_user(annotator)
    client.get(f"/api/projects/{project.pk}/next/")
    assert submit(client, item, {"label": "pos"}).status_code == 201
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE

    r = undo(client, item)

    assert r.status_code == 200
    body = r.json()
    assert body["item"]["id"] == item.pk and body["value"] == {"label": "pos"} and body["skipped"] is False
    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value, item.annotation_count) == (ItemStatus.NEW, "", None, 0)
    assert not Annotation.objects.exists()
    assignment = Assignment.objects.get(item=item, user=annotator)
    assert assignment.state == LeaseState.LEASED and assignment.expires_at > timezone.now()
    assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item.pk
    assert AuditEvent.objects.filter(action="annotation.undone", item_id=item.pk, user=annotator).count() == 1

    # Labeled again, differently: the corrected value is final.
    assert submit(client, item, {"label": "neg"}).status_code == 201
    item.refresh_from_db()
    assert item.final_value == {"label": "neg"}


def test_undo_of_a_skip_puts_the_item_back_on_screen(as_user, annotator, project):
    [item] = make_items(project, 1)
    client = as_user(annotator)
    submit(client, item, skip=True)

    r = undo(client, item)

    assert r.status_code == 200 and r.json()["skipped"] is True
    assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item.pk


def test_undo_after_the_lease_time_is_refused(as_user, annotator, project):
    [item] = make_items(project, 1)
    client = as_user(annotator)
    submit(client, item, {"label": "pos"})
    Annotation.objects.update(created_at=timezone.now() - timedelta(seconds=project.lease_seconds + 1))

    r = undo(client, item)

    assert r.status_code == 409 and "Too late" in r.json()["detail"]
    assert Annotation.objects.count() == 1


def test_undo_without_an_annotation_is_refused(as_user, annotator, project):
    [item] = make_items(project, 1)
    assert undo(as_user(annotator), item).status_code == 409


def test_undo_after_review_is_refused(as_user, annotator, reviewer, project):
    [item] = make_items(project, 1)
    submit(as_user(annotator), item, {"label": "pos"})
    item.refresh_from_db()
    item.final_source = "reviewer"
    item.save()

    assert undo(as_user(annotator), item).status_code == 409
    assert Annotation.objects.count() == 1


def test_undo_of_a_disagreement_takes_the_item_out_of_review(as_user, annotator, annotator2, project):
    project.overlap = 2
    project.save()
    [item] = make_items(project, 1)
    submit(as_user(annotator), item, {"label": "pos"})
    submit(as_user(annotator2), item, {"label": "neg"})
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW

    assert undo(as_user(annotator2), item).status_code == 200

    item.refresh_from_db()
    assert (item.status, item.review_reason, item.annotation_count) == (ItemStatus.NEW, "", 1)


def test_undo_is_for_labelers_and_members_only(as_user, ml_engineer, outsider, project):
    [item] = make_items(project, 1)
    assert undo(as_user(ml_engineer), item).status_code == 403
    assert undo(as_user(outsider), item).status_code == 404
