"""Reviewers adjudicate: `review/next` hands out in-review items, `review` makes a value final."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from annotations.models import Annotation, ReviewDecision, ReviewLease
from audit.models import AuditEvent
from tasks.models import FinalSource, Item, ItemStatus, Membership, ReviewReason
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db


def review_next(client, project):
    return client.get(f"/api/projects/{project.pk}/review/next/")


def decide(client, item, body):
    return client.post(f"/api/items/{item.pk}/review/", body, format="json")


def in_review(project, n=1, reason=ReviewReason.DISAGREEMENT, **fields) -> list[Item]:
    items = make_items(project, n)
    Item.objects.filter(pk__in=[i.pk for i in items]).update(status=ItemStatus.IN_REVIEW, review_reason=reason,
                                                             **fields)
    return list(Item.objects.filter(pk__in=[i.pk for i in items]).order_by("id"))


def disputed(project, annotator, annotator2) -> Item:
    """An item two annotators labelled differently, in review for disagreement."""
    [item] = in_review(project, annotation_count=2)
    Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"}, lead_time=3)
    Annotation.objects.create(project=project, item=item, user=annotator2, value={"label": "neg"}, lead_time=5)
    return item


@pytest.fixture
def reviewer2(project):
    user = make_user("rex", Role.REVIEWER)
    Membership.objects.create(project=project, user=user)
    return user


# --- who may review -----------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["reviewer", "admin"])
def test_reviewers_and_admins_get_the_review_queue(as_user, project, request, who):
    in_review(project)
    assert review_next(as_user(request.getfixturevalue(who)), project).status_code == 200


@pytest.mark.parametrize("who", ["annotator", "ml_engineer"])
def test_other_roles_may_not_review(as_user, project, annotator, annotator2, request, who):
    item = disputed(project, annotator, annotator2)
    client = as_user(request.getfixturevalue(who))

    assert review_next(client, project).status_code == 403
    assert decide(client, item, {"value": {"label": "pos"}}).status_code == 403
    assert not ReviewDecision.objects.exists() and not ReviewLease.objects.exists()


def test_outsiders_do_not_see_the_project(as_user, project, outsider, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    assert review_next(as_user(outsider), project).status_code == 404
    assert decide(as_user(outsider), item, {"value": {"label": "pos"}}).status_code == 404


def test_a_reviewer_of_another_project_does_not_see_it(as_user, admin, project, annotator, annotator2):
    stranger = make_user("sam", Role.REVIEWER)
    make_project(admin, [stranger], name="Other")
    item = disputed(project, annotator, annotator2)
    assert review_next(as_user(stranger), project).status_code == 404
    assert decide(as_user(stranger), item, {"value": {"label": "pos"}}).status_code == 404


def test_no_token_answers_401(as_user, project):
    assert review_next(as_user(None), project).status_code == 401


# --- review/next --------------------------------------------------------------------------------

def test_an_empty_review_queue_answers_204(as_user, project, reviewer):
    make_items(project, 2)  # waiting for annotations, not in review
    assert review_next(as_user(reviewer), project).status_code == 204


def test_next_shows_the_item_with_every_annotation_the_prediction_and_the_reason(
        as_user, project, reviewer, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    prediction = {"model_version": 1, "value": {"label": "neg"}, "confidence": 0.6}
    Item.objects.filter(pk=item.pk).update(prediction=prediction, confidence=0.6)

    r = review_next(as_user(reviewer), project)

    assert r.status_code == 200
    body = r.json()
    assert body["item"]["id"] == item.pk and body["item"]["data"] == {"text": "text 0"}
    assert body["reason"] == "disagreement"
    assert body["prediction"] == prediction
    assert body["final"] is None
    assert [(a["user"], a["value"], a["skipped"], a["lead_time"]) for a in body["annotations"]] == [
        ("ann", {"label": "pos"}, False, 3.0), ("bob", {"label": "neg"}, False, 5.0)]
    assert all("id" in a and "created_at" in a for a in body["annotations"])
    lease = ReviewLease.objects.get(item=item)
    assert lease.reviewer == reviewer and lease.expires_at > timezone.now()


def test_next_serves_the_oldest_item_first_and_resumes_the_callers_lease(as_user, project, reviewer):
    first, second = in_review(project, 2)
    client = as_user(reviewer)

    assert review_next(client, project).json()["item"]["id"] == first.pk
    assert review_next(client, project).json()["item"]["id"] == first.pk  # a reload: the same item
    assert ReviewLease.objects.count() == 1


def test_two_reviewers_never_get_the_same_item_at_once(as_user, project, reviewer, reviewer2):
    first, second = in_review(project, 2)

    a = review_next(as_user(reviewer), project).json()["item"]["id"]
    b = review_next(as_user(reviewer2), project).json()["item"]["id"]

    assert {a, b} == {first.pk, second.pk}


def test_a_leased_item_is_not_handed_to_a_second_reviewer_until_the_lease_expires(
        as_user, project, reviewer, reviewer2):
    [item] = in_review(project)
    assert review_next(as_user(reviewer), project).status_code == 200

    assert review_next(as_user(reviewer2), project).status_code == 204

    ReviewLease.objects.filter(item=item).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = review_next(as_user(reviewer2), project)
    assert r.status_code == 200 and r.json()["item"]["id"] == item.pk
    assert ReviewLease.objects.get(item=item).reviewer == reviewer2


def test_an_audit_sample_shows_the_models_final_value(as_user, project, reviewer):
    prediction = {"model_version": 1, "value": {"label": "pos"}, "confidence": 0.99}
    in_review(project, reason=ReviewReason.AUDIT, prediction=prediction, final_value={"label": "pos"},
              final_source=FinalSource.MODEL, final_at=timezone.now())

    body = review_next(as_user(reviewer), project).json()

    assert body["reason"] == "audit" and body["annotations"] == []
    assert body["final"]["value"] == {"label": "pos"} and body["final"]["source"] == "model"


# --- review -------------------------------------------------------------------------------------

def test_the_decision_becomes_final_with_source_reviewer(as_user, project, reviewer, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    review_next(as_user(reviewer), project)

    r = decide(as_user(reviewer), item, {"value": {"label": "neg"}, "note": "sarcasm"})

    assert r.status_code == 200
    assert r.json()["item"]["final"]["source"] == "reviewer"
    assert r.json()["decision"]["note"] == "sarcasm"
    item.refresh_from_db()
    assert (item.status, item.final_value, item.final_source, item.final_by) == (
        ItemStatus.DONE, {"label": "neg"}, FinalSource.REVIEWER, reviewer)
    assert item.review_reason == ""
    assert not ReviewLease.objects.exists()


def test_the_decision_is_recorded_with_who_it_corrected(as_user, project, reviewer, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    Item.objects.filter(pk=item.pk).update(prediction={"model_version": 1, "value": {"label": "pos"},
                                                       "confidence": 0.55})

    decide(as_user(reviewer), item, {"value": {"label": "neg"}, "note": "sarcasm"})

    decision = ReviewDecision.objects.get(item=item)
    assert (decision.reviewer, decision.value, decision.note, decision.reason) == (
        reviewer, {"label": "neg"}, "sarcasm", "disagreement")
    assert decision.corrections == {"annotators": [annotator.pk], "agreed": [annotator2.pk], "model": True}
    final = AuditEvent.objects.get(action="final.set", item_id=item.pk)
    assert final.user_id == reviewer.pk and final.payload["source"] == "reviewer"
    event = AuditEvent.objects.get(action="review.decided", item_id=item.pk)
    assert event.user_id == reviewer.pk and event.project_id == project.pk
    assert event.payload["note"] == "sarcasm" and event.payload["reason"] == "disagreement"
    assert event.payload["corrected_annotators"] == [annotator.pk]
    assert event.payload["agreed_annotators"] == [annotator2.pk]
    assert event.payload["model_corrected"] is True


def test_without_a_prediction_the_model_is_not_counted(as_user, project, reviewer, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    decide(as_user(reviewer), item, {"value": {"label": "pos"}})
    assert ReviewDecision.objects.get(item=item).corrections["model"] is None


def test_an_admin_may_decide_too(as_user, project, admin, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    assert decide(as_user(admin), item, {"value": {"label": "pos"}}).status_code == 200
    item.refresh_from_db()
    assert item.final_by == admin


def test_an_item_not_in_review_answers_409(as_user, project, reviewer):
    waiting, = make_items(project, 1)

    r = decide(as_user(reviewer), waiting, {"value": {"label": "pos"}})

    assert r.status_code == 409
    waiting.refresh_from_db()
    assert waiting.status == ItemStatus.NEW and waiting.final_source == ""
    assert not ReviewDecision.objects.exists()


def test_an_item_decided_already_answers_409(as_user, project, reviewer, reviewer2, annotator, annotator2):
    item = disputed(project, annotator, annotator2)
    assert decide(as_user(reviewer), item, {"value": {"label": "pos"}}).status_code == 200

    assert decide(as_user(reviewer2), item, {"value": {"label": "neg"}}).status_code == 409
    item.refresh_from_db()
    assert (item.final_value, item.final_by) == ({"label": "pos"}, reviewer)
    assert ReviewDecision.objects.count() == 1


@pytest.mark.parametrize("body, field", [
    ({"value": {"label": "meh"}}, "value.label"),
    ({"value": {"labels": ["pos"]}}, "value.label"),
    ({"value": "pos"}, "value"),
    ({"value": None}, "value"),
    ({}, "value"),
])
def test_a_value_that_does_not_fit_answers_400_naming_the_field(as_user, project, reviewer, annotator, annotator2,
                                                                 body, field):
    item = disputed(project, annotator, annotator2)

    r = decide(as_user(reviewer), item, body)

    assert r.status_code == 400
    assert field in r.json()
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW and not ReviewDecision.objects.exists()


def test_a_reviewer_value_is_stored_normalised(as_user, admin, reviewer):
    project = make_project(admin, [reviewer], task_type="spans", labels=["PER", "LOC"])
    [item] = in_review(project)
    Item.objects.filter(pk=item.pk).update(data={"text": "Ada in London"})

    r = decide(as_user(reviewer), item, {"value": {"spans": [{"start": 7, "end": 13, "label": "LOC"},
                                                             {"start": 0, "end": 3, "label": "PER"}]}})

    assert r.status_code == 200
    item.refresh_from_db()
    assert [s["start"] for s in item.final_value["spans"]] == [0, 7]


# --- settling with the project's rules ----------------------------------------------------------

def needing(project, needed: int) -> Item:
    [item] = make_items(project, 1)
    Item.objects.filter(pk=item.pk).update(needed=needed)
    item.refresh_from_db()
    return item


def submit(client, item, value):
    return client.post(f"/api/items/{item.pk}/annotations/", {"value": value}, format="json")


def test_full_flow_annotators_disagree_a_reviewer_decides(as_user, project, reviewer, annotator, annotator2):
    project.overlap = 2
    project.save()
    [item] = make_items(project, 1)
    for user, label in ((annotator, "pos"), (annotator2, "neg")):
        client = as_user(user)
        assert client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item.pk
        assert submit(client, item, {"label": label}).status_code == 201

    r = review_next(as_user(reviewer), project)
    assert r.status_code == 200
    body = r.json()
    assert body["item"]["id"] == item.pk and body["reason"] == "disagreement"
    assert {(a["user"], a["value"]["label"]) for a in body["annotations"]} == {("ann", "pos"), ("bob", "neg")}

    assert decide(as_user(reviewer), item, {"value": {"label": "pos"}, "note": "clearly positive"}).status_code == 200

    detail = as_user(reviewer).get(f"/api/items/{item.pk}/").json()
    assert detail["status"] == "done"
    assert detail["final"]["value"] == {"label": "pos"} and detail["final"]["source"] == "reviewer"
    assert [d["note"] for d in detail["reviews"]] == ["clearly positive"]
    assert review_next(as_user(reviewer), project).status_code == 204
    assert list(AuditEvent.objects.filter(item_id=item.pk).values_list("action", flat=True)) == [
        "annotation.submitted", "annotation.submitted", "review.requested", "final.set", "review.decided"]


def test_escalated_items_that_disagree_go_to_review_as_escalated(as_user, project, annotator, annotator2):
    item = needing(project, 2)  # overlap 1, escalated to 2

    submit(as_user(annotator), item, {"label": "pos"})
    submit(as_user(annotator2), item, {"label": "neg"})

    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, ReviewReason.ESCALATED)


def test_escalated_items_that_agree_are_done_by_consensus(as_user, project, annotator, annotator2):
    item = needing(project, 2)

    submit(as_user(annotator), item, {"label": "pos"})
    submit(as_user(annotator2), item, {"label": "pos"})

    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value) == (ItemStatus.DONE, FinalSource.CONSENSUS,
                                                                  {"label": "pos"})


def test_a_majority_of_three_settles_by_consensus(as_user, admin, project, annotator, annotator2):
    third = make_user("cy", Role.ANNOTATOR)
    Membership.objects.create(project=project, user=third)
    item = needing(project, 3)

    for user, label in ((annotator, "pos"), (annotator2, "neg"), (third, "pos")):
        submit(as_user(user), item, {"label": label})

    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value) == (ItemStatus.DONE, FinalSource.CONSENSUS,
                                                                  {"label": "pos"})


@pytest.mark.parametrize("consensus_iou, status", [(0.5, ItemStatus.DONE), (0.9, ItemStatus.IN_REVIEW)])
def test_spans_settle_with_the_projects_iou(as_user, admin, annotator, annotator2, consensus_iou, status):
    project = make_project(admin, [annotator, annotator2], task_type="spans", labels=["PER"], overlap=2,
                           consensus_iou=consensus_iou)
    [item] = make_items(project, 1)  # text "text 0"

    submit(as_user(annotator), item, {"spans": [{"start": 0, "end": 4, "label": "PER"}]})
    submit(as_user(annotator2), item, {"spans": [{"start": 0, "end": 5, "label": "PER"}]})  # IoU 0.8

    item.refresh_from_db()
    assert item.status == status


# --- the project setting ------------------------------------------------------------------------

def test_consensus_iou_is_a_project_setting_between_0_and_1(as_user, admin, project):
    client = as_user(admin)
    assert client.get(f"/api/projects/{project.pk}/").json()["consensus_iou"] == 0.5

    assert client.patch(f"/api/projects/{project.pk}/", {"consensus_iou": 0.7}, format="json").status_code == 200
    project.refresh_from_db()
    assert project.consensus_iou == 0.7

    for bad in (1.5, -0.1, None):
        r = client.patch(f"/api/projects/{project.pk}/", {"consensus_iou": bad}, format="json")
        assert r.status_code == 400 and "consensus_iou" in r.json()


# --- concurrency --------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_simultaneous_reviewers_never_get_the_same_item_against_postgresql(admin):
    reviewers = [make_user(f"rev{i}", Role.REVIEWER) for i in range(8)]
    project = make_project(admin, reviewers)
    items = in_review(project, 5)
    barrier = threading.Barrier(len(reviewers))

    def grab(user):
        barrier.wait()
        try:
            r = review_next(client_for(user), project)
            return r.json()["item"]["id"] if r.status_code == 200 else r.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(reviewers)) as pool:
        got = list(pool.map(grab, reviewers))

    handed_out = [g for g in got if g != 204]
    assert sorted(handed_out) == sorted(i.pk for i in items), "an item went to two reviewers, or none"
    assert got.count(204) == 3
    assert ReviewLease.objects.filter(project=project).count() == 5


@pytest.mark.django_db(transaction=True)
def test_simultaneous_decisions_on_one_item_make_one_final_value(admin):
    reviewers = [make_user(f"rev{i}", Role.REVIEWER) for i in range(6)]
    project = make_project(admin, reviewers)
    [item] = in_review(project)
    barrier = threading.Barrier(len(reviewers))

    def post(user):
        barrier.wait()
        try:
            return decide(client_for(user), item, {"value": {"label": "pos"}}).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(reviewers)) as pool:
        codes = list(pool.map(post, reviewers))

    assert sorted(codes) == [200] + [409] * 5
    assert ReviewDecision.objects.filter(item=item).count() == 1
    assert AuditEvent.objects.filter(item_id=item.pk, action="final.set").count() == 1
