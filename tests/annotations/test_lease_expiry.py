"""A lease that expires while the annotator works: the answer is kept if the item still needs it,
else refused with a 409 that says why, and nothing is stored.

An unexpired lease is a promise: its holder's answer is always accepted, so a late answer never takes
a place that `next` has since leased to someone else, not even one that was sent just before its lease
ran out and waited for the item meanwhile. A skip takes no place and is always recorded; gold items take
answers from everyone, late or not.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role
from annotations.models import Annotation
from audit.models import AuditEvent
from tasks.models import Assignment, FinalSource, Item, ItemStatus, LeaseState
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db

NO_LONGER_NEEDED = "no longer needs your annotation"


def take(client, project) -> int:
    """The caller's `next` item (leased to them)."""
    r = client.get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 200, r.content
    return r.json()["item"]["id"]


def submit(client, item_id: int, label: str = "pos"):
    return client.post(f"/api/items/{item_id}/annotations/", {"value": {"label": label}}, format="json")


def expire(user, item_id: int) -> None:
    """The user's lease on the item ran out a second ago."""
    Assignment.objects.filter(item_id=item_id, user=user).update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def annotator3(db):
    return make_user("cyd", Role.ANNOTATOR)


# --- the item still needs the answer: kept --------------------------------------------------------

def test_a_late_answer_is_kept_when_the_item_still_needs_it(as_user, admin, annotator):
    project = make_project(admin, [annotator], overlap=2)
    [item] = make_items(project, 1)
    ann = as_user(annotator)
    assert take(ann, project) == item.pk
    expire(annotator, item.pk)

    r = submit(ann, item.pk)

    assert r.status_code == 201
    assert Annotation.objects.get(item=item, user=annotator).value == {"label": "pos"}
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (1, ItemStatus.NEW)
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SUBMITTED


def test_a_late_answer_that_completes_the_item_settles_it(as_user, admin, annotator, annotator2):
    """The item went to another annotator meanwhile, but still had a free place for this answer."""
    project = make_project(admin, [annotator, annotator2], overlap=2)
    [item] = make_items(project, 1)
    ann, bob = as_user(annotator), as_user(annotator2)
    take(ann, project)
    expire(annotator, item.pk)
    assert take(bob, project) == item.pk
    assert submit(bob, item.pk).status_code == 201

    r = submit(ann, item.pk)

    assert r.status_code == 201
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (2, ItemStatus.DONE)
    assert (item.final_source, item.final_value) == (FinalSource.CONSENSUS, {"label": "pos"})


def test_a_late_answer_to_an_item_nobody_else_took_settles_it(as_user, admin, annotator):
    project = make_project(admin, [annotator], overlap=1)
    [item] = make_items(project, 1)
    ann = as_user(annotator)
    take(ann, project)
    expire(annotator, item.pk)

    assert submit(ann, item.pk, "neg").status_code == 201

    item.refresh_from_db()
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"label": "neg"})


# --- the item got what it needed meanwhile: 409, nothing stored -----------------------------------

def test_a_late_answer_to_an_item_others_finished_meanwhile_is_refused(as_user, admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], overlap=1)
    [item] = make_items(project, 1)
    ann, bob = as_user(annotator), as_user(annotator2)
    take(ann, project)
    expire(annotator, item.pk)
    assert take(bob, project) == item.pk
    assert submit(bob, item.pk, "neg").status_code == 201

    r = submit(ann, item.pk, "pos")

    assert r.status_code == 409
    assert NO_LONGER_NEEDED in r.json()["detail"]
    assert not Annotation.objects.filter(item=item, user=annotator).exists()
    item.refresh_from_db()
    assert item.annotation_count == 1
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"label": "neg"})
    assert not Assignment.objects.filter(item=item, user=annotator, state=LeaseState.SUBMITTED).exists()
    assert not AuditEvent.objects.filter(action="annotation.submitted", item_id=item.pk, user=annotator).exists()


def test_with_overlap_2_a_late_answer_after_two_others_is_refused(as_user, admin, annotator, annotator2, annotator3):
    project = make_project(admin, [annotator, annotator2, annotator3], overlap=2)
    [item] = make_items(project, 1)
    ann = as_user(annotator)
    take(ann, project)
    expire(annotator, item.pk)
    for user in (annotator2, annotator3):
        client = as_user(user)
        assert take(client, project) == item.pk
        assert submit(client, item.pk).status_code == 201

    r = submit(ann, item.pk)

    assert r.status_code == 409
    assert NO_LONGER_NEEDED in r.json()["detail"]
    assert Annotation.objects.filter(item=item).count() == 2
    item.refresh_from_db()
    assert item.annotation_count == 2


def test_a_late_answer_does_not_take_a_place_leased_to_someone_else(as_user, admin, annotator, annotator2):
    """The other annotator's unexpired lease is a promise: their answer must still be accepted."""
    project = make_project(admin, [annotator, annotator2], overlap=1)
    [item] = make_items(project, 1)
    ann, bob = as_user(annotator), as_user(annotator2)
    take(ann, project)
    expire(annotator, item.pk)
    assert take(bob, project) == item.pk

    late = submit(ann, item.pk, "pos")
    on_time = submit(bob, item.pk, "neg")

    assert late.status_code == 409
    assert NO_LONGER_NEEDED in late.json()["detail"]
    assert on_time.status_code == 201
    item.refresh_from_db()
    assert item.annotation_count == 1
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"label": "neg"})
    assert list(Annotation.objects.filter(item=item).values_list("user__username", flat=True)) == ["bob"]


def test_after_a_refused_late_answer_the_annotator_goes_on_with_other_items(as_user, admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], overlap=1)
    first, second = make_items(project, 2)
    ann, bob = as_user(annotator), as_user(annotator2)
    take(ann, project)
    expire(annotator, first.pk)
    assert take(bob, project) == first.pk
    submit(bob, first.pk)
    assert submit(ann, first.pk).status_code == 409

    assert take(ann, project) == second.pk
    assert submit(ann, second.pk).status_code == 201


# --- what takes no place -------------------------------------------------------------------------

def test_a_late_skip_is_recorded_even_when_the_item_was_finished(as_user, admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], overlap=1)
    [item] = make_items(project, 1)
    ann, bob = as_user(annotator), as_user(annotator2)
    take(ann, project)
    expire(annotator, item.pk)
    take(bob, project)
    submit(bob, item.pk)

    r = ann.post(f"/api/items/{item.pk}/annotations/", {"skip": True}, format="json")

    assert r.status_code == 201
    assert Annotation.objects.get(item=item, user=annotator).skipped is True
    item.refresh_from_db()
    assert item.annotation_count == 1


def test_a_late_answer_to_a_gold_item_is_kept(as_user, admin, annotator, annotator2):
    """Gold items are answered by every annotator (they score them); they have no places to run out of."""
    project = make_project(admin, [annotator, annotator2], overlap=1, gold_rate=1.0)
    [gold] = make_items(project, 1, gold={"label": "pos"}, final_value={"label": "pos"},
                        final_source=FinalSource.GOLD, status=ItemStatus.DONE)
    ann, bob = as_user(annotator), as_user(annotator2)
    assert take(ann, project) == gold.pk
    expire(annotator, gold.pk)
    assert take(bob, project) == gold.pk
    assert submit(bob, gold.pk).status_code == 201

    r = submit(ann, gold.pk, "neg")

    assert r.status_code == 201
    assert Annotation.objects.filter(item=gold).count() == 2
    gold = Item.objects.get(pk=gold.pk)
    assert (gold.status, gold.final_source, gold.final_value) == (ItemStatus.DONE, "gold", {"label": "pos"})


# --- the moment that counts ----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_answer_whose_lease_ran_out_while_it_waited_for_the_item_does_not_take_the_new_holders_place(
        admin, annotator, annotator2):
    """Whether a lease still holds is decided when the answer has the item's row lock, not when the
    request came in: here bob's `next` holds the item while the annotator's answer, sent a second
    before her lease runs out, waits for it; bob leases the item once her lease has run out."""
    project = make_project(admin, [annotator, annotator2], overlap=1)
    [item] = make_items(project, 1)
    now = timezone.now()
    runs_out = now + timedelta(seconds=1)
    Assignment.objects.create(project=project, item=item, user=annotator, leased_at=now, expires_at=runs_out)
    locked, answered = threading.Event(), {}

    def bobs_next():
        try:
            with transaction.atomic():
                Item.objects.select_for_update().get(pk=item.pk)
                locked.set()
                time.sleep(max(0.0, (runs_out - timezone.now()).total_seconds()) + 0.2)
                t = timezone.now()
                Assignment.objects.create(project=project, item=item, user=annotator2, leased_at=t,
                                          expires_at=t + timedelta(seconds=600))
        finally:
            connection.close()

    def her_answer():
        try:
            answered["response"] = submit(client_for(annotator), item.pk, "pos")
        finally:
            connection.close()

    bob = threading.Thread(target=bobs_next)
    bob.start()
    assert locked.wait(10)
    her = threading.Thread(target=her_answer)
    her.start()
    bob.join(20)
    her.join(20)
    his = submit(client_for(annotator2), item.pk, "neg")

    assert answered["response"].status_code == 409
    assert NO_LONGER_NEEDED in answered["response"].json()["detail"]
    assert his.status_code == 201
    item.refresh_from_db()
    assert item.annotation_count == 1
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"label": "neg"})
