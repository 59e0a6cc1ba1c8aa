"""Feedback and rework: a reviewer rejects an annotation with a comment; the item goes back to the same
annotator (leased to them) or to anyone; the annotator reads the comment in their inbox."""
from __future__ import annotations

import pytest

from accounts.models import Role
from annotations.models import Annotation, Feedback, RetiredAnnotation
from audit.models import AuditEvent
from tasks.models import LABELABLE, Assignment, FinalSource, Item, ItemStatus, LeaseState, Membership
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(admin, annotator, annotator2, reviewer, ml_engineer):
    """Two annotations per item."""
    return make_project(admin, [annotator, annotator2, reviewer, ml_engineer], overlap=2)


@pytest.fixture
def third(project):
    """A third annotator of the project, who would gladly take any free place."""
    user = make_user("cy", Role.ANNOTATOR)
    Membership.objects.create(project=project, user=user)
    return user


def next_item(user, project):
    r = client_for(user).get(f"/api/projects/{project.pk}/next/")
    assert r.status_code in (200, 204), r.content
    return r.data if r.status_code == 200 else None


def label(user, item, value):
    r = client_for(user).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": value}}, format="json")
    assert r.status_code == 201, r.content
    return r


def reject(user, annotation, comment="Read the guideline on sarcasm.", rework_by="same"):
    return client_for(user).post(f"/api/annotations/{annotation.pk}/reject/",
                                 {"comment": comment, "rework_by": rework_by}, format="json")


def labelled(project, pairs) -> Item:
    """The project's one item, labelled through `next` by each (user, label) in turn."""
    [item] = make_items(project, 1)
    for user, value in pairs:
        assert next_item(user, project)["item"]["id"] == item.pk
        label(user, item, value)
    item.refresh_from_db()
    return item


def annotation_of(item, user) -> Annotation:
    return Annotation.objects.get(item=item, user=user)


# --- sent back to the same annotator ------------------------------------------------------------

def test_rejected_to_the_same_annotator_it_comes_back_to_them_first_and_nobody_else_takes_it(
        project, annotator, annotator2, reviewer, third):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    assert item.status == ItemStatus.IN_REVIEW
    other = make_items(project, 1)[0]  # so the queue has something else to hand out

    r = reject(reviewer, annotation_of(item, annotator))

    assert r.status_code == 200, r.content
    assert r.data["comment"] == "Read the guideline on sarcasm." and r.data["rework_by"] == "same"
    assert r.data["value"] == {"label": "pos"} and r.data["reviewer"] == reviewer.username
    item.refresh_from_db()
    assert item.status in LABELABLE and item.annotation_count == 1 and item.final_value is None
    lease = Assignment.objects.get(item=item, user=annotator)
    assert lease.state == LeaseState.LEASED and (lease.expires_at - lease.leased_at).total_seconds() >= 23 * 3600
    # The freed place is theirs: others are served something else.
    assert next_item(third, project)["item"]["id"] == other.pk
    assert next_item(annotator2, project)["item"]["id"] == other.pk
    served = next_item(annotator, project)
    assert served["item"]["id"] == item.pk
    assert served["feedback"]["comment"] == "Read the guideline on sarcasm."
    assert served["feedback"]["reviewer"] == reviewer.username and served["feedback"]["value"] == {"label": "pos"}


def test_the_reworked_answer_counts_and_settles_the_item(project, annotator, annotator2, reviewer):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    reject(reviewer, annotation_of(item, annotator))

    assert next_item(annotator, project)["item"]["id"] == item.pk
    label(annotator, item, "neg")

    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.final_source == FinalSource.CONSENSUS
    assert item.final_value == {"label": "neg"} and item.annotation_count == 2
    feedback = Feedback.objects.get(item=item)
    assert feedback.reworked_at is not None
    # Served again later, the item carries no feedback any more (the rework is done).
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SUBMITTED


def test_rejected_annotation_is_kept_whole_with_its_feedback_and_audited(project, annotator, annotator2, reviewer):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    original = annotation_of(item, annotator)

    reject(reviewer, original, comment="  Sarcasm is rotten.  ")

    assert not Annotation.objects.filter(pk=original.pk).exists()
    retired = RetiredAnnotation.objects.get(original_id=original.pk)
    assert (retired.user, retired.item, retired.value, retired.reason, retired.retired_by) == (
        annotator, item, {"label": "pos"}, RetiredAnnotation.REJECTED, reviewer)
    feedback = Feedback.objects.get(annotation=retired)
    assert (feedback.annotator, feedback.reviewer, feedback.rework_by, feedback.comment) == (
        annotator, reviewer, annotator, "Sarcasm is rotten.")
    assert feedback.read_at is None and feedback.reworked_at is None
    event = AuditEvent.objects.get(action="annotation.rejected")
    assert event.user == reviewer and event.item_id == item.pk
    assert event.payload["annotator"] == annotator.pk and event.payload["comment"] == "Sarcasm is rotten."
    assert event.payload["rework_by"] == "same" and event.payload["value"] == {"label": "pos"}
    assert AuditEvent.objects.filter(action="item.reopened", item_id=item.pk).exists()


# --- sent back to anyone ------------------------------------------------------------------------

def test_rejected_to_anyone_the_place_goes_to_whoever_asks_next(project, annotator, annotator2, reviewer, third):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])

    r = reject(reviewer, annotation_of(item, annotator), rework_by="anyone")

    assert r.status_code == 200 and r.data["rework_by"] == "anyone"
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SUBMITTED
    assert next_item(annotator, project) is None  # not served to the annotator it was rejected from
    served = next_item(third, project)
    assert served["item"]["id"] == item.pk and "feedback" not in served
    label(third, item, "neg")
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.final_value == {"label": "neg"}
    assert Feedback.objects.get(item=item).reworked_at is not None


def test_an_item_done_by_consensus_reopens_for_one_more_annotation(project, annotator, annotator2, reviewer, third):
    item = labelled(project, [(annotator, "pos"), (annotator2, "pos")])
    assert item.status == ItemStatus.DONE and item.final_source == FinalSource.CONSENSUS

    assert reject(reviewer, annotation_of(item, annotator2), rework_by="anyone").status_code == 200

    item.refresh_from_db()
    assert item.status in LABELABLE and item.final_source == "" and item.annotation_count == 1
    assert next_item(third, project)["item"]["id"] == item.pk


# --- refusals -----------------------------------------------------------------------------------

def test_a_comment_is_required(project, annotator, annotator2, reviewer):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    r = reject(reviewer, annotation_of(item, annotator), comment="   ")
    assert r.status_code == 400 and "comment" in r.data
    assert Annotation.objects.filter(item=item).count() == 2 and not Feedback.objects.exists()


def test_a_paused_annotator_gets_no_rework_it_goes_to_anyone_instead(project, annotator, annotator2, reviewer):
    from tasks.models import Standing, StandingState

    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    Standing.objects.filter(project=project, user=annotator).update(state=StandingState.PAUSED, pause_reason="too fast")
    r = reject(reviewer, annotation_of(item, annotator))
    assert r.status_code == 400 and "send it to anyone" in str(r.data["rework_by"])
    assert Annotation.objects.filter(item=item).count() == 2, "nothing changed"
    assert reject(reviewer, annotation_of(item, annotator), rework_by="anyone").status_code == 200


@pytest.mark.parametrize("who", ["annotator", "annotator2", "ml_engineer"])
def test_only_reviewers_reject(project, annotator, annotator2, reviewer, request, who):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    r = reject(request.getfixturevalue(who), annotation_of(item, annotator))
    assert r.status_code == 403
    assert Annotation.objects.filter(item=item).count() == 2 and not Feedback.objects.exists()


def test_outsiders_do_not_see_the_annotation(project, annotator, annotator2, outsider):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    assert reject(outsider, annotation_of(item, annotator)).status_code == 404


def test_annotations_of_an_item_a_reviewer_decided_cannot_be_rejected(project, annotator, annotator2, reviewer):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    r = client_for(reviewer).post(f"/api/items/{item.pk}/review/", {"value": {"label": "neg"}}, format="json")
    assert r.status_code == 200

    r = reject(reviewer, annotation_of(item, annotator))

    assert r.status_code == 409
    item.refresh_from_db()
    assert item.final_source == FinalSource.REVIEWER and item.annotation_count == 2
    assert not Feedback.objects.exists() and not RetiredAnnotation.objects.exists()


def test_a_skip_cannot_be_rejected(project, annotator, reviewer):
    [item] = make_items(project, 1)
    next_item(annotator, project)
    assert client_for(annotator).post(f"/api/items/{item.pk}/annotations/", {"skip": True},
                                      format="json").status_code == 201
    assert reject(reviewer, annotation_of(item, annotator)).status_code == 409


def test_an_annotation_rejected_twice_is_gone_the_second_time(project, annotator, annotator2, reviewer):
    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    annotation = annotation_of(item, annotator)
    assert reject(reviewer, annotation).status_code == 200
    assert reject(reviewer, annotation).status_code == 404
    assert Feedback.objects.count() == 1


# --- the inbox ----------------------------------------------------------------------------------

def test_the_annotator_reads_their_feedback_in_the_inbox(project, annotator, annotator2, reviewer):
    first = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    reject(reviewer, annotation_of(first, annotator), comment="First.")
    [second] = make_items(project, 1)
    next_item(annotator2, project)  # annotator2's
    label(annotator2, second, "pos")
    reject(reviewer, annotation_of(second, annotator2), comment="Second.", rework_by="anyone")

    r = client_for(annotator).get("/api/inbox/")
    assert r.status_code == 200 and r.data["unread"] == 1 and r.data["count"] == 1
    [entry] = r.data["results"]
    assert (entry["item"], entry["project"], entry["comment"], entry["reviewer"], entry["value"]) == (
        first.pk, project.pk, "First.", reviewer.username, {"label": "pos"})
    assert entry["item_data"] == first.data and entry["read_at"] is None and entry["reworked_at"] is None
    assert client_for(annotator2).get("/api/inbox/").data["results"][0]["comment"] == "Second."

    r = client_for(annotator).post("/api/inbox/read/", {"ids": [entry["id"]]}, format="json")
    assert r.status_code == 200 and r.data == {"marked": 1, "unread": 0}
    assert Feedback.objects.get(pk=entry["id"]).read_at is not None
    # Someone else's entries are not theirs to mark.
    other = Feedback.objects.get(annotator=annotator2)
    assert client_for(annotator).post("/api/inbox/read/", {"ids": [other.pk]}, format="json").data["marked"] == 0
    assert client_for(annotator2).post("/api/inbox/read/", {}, format="json").data == {"marked": 1, "unread": 0}


def test_the_inbox_lists_newest_first(project, annotator, annotator2, reviewer):
    items = make_items(project, 2)
    for item in items:
        next_item(annotator, project)
        label(annotator, item, "pos")
    for n, item in enumerate(items):
        reject(reviewer, annotation_of(item, annotator), comment=f"comment {n}", rework_by="anyone")
    results = client_for(annotator).get("/api/inbox/").data["results"]
    assert [e["comment"] for e in results] == ["comment 1", "comment 0"]


def test_the_header_shows_the_unread_count(project, annotator, annotator2, reviewer):
    from django.test import Client

    item = labelled(project, [(annotator, "pos"), (annotator2, "neg")])
    reject(reviewer, annotation_of(item, annotator))
    browser = Client()
    browser.force_login(annotator)
    assert "Inbox (1)" in browser.get("/").content.decode()
    assert browser.get("/inbox/").status_code == 200


# --- under concurrency --------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_rejection_racing_other_annotators_next_never_hands_the_place_to_them(admin):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    first, second, boss = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR), make_user(
        "rita", Role.REVIEWER)
    others = [make_user(f"cy{i}", Role.ANNOTATOR) for i in range(6)]
    project = make_project(admin, [first, second, boss, *others], overlap=2)
    item = labelled(project, [(first, "pos"), (second, "neg")])
    annotation = annotation_of(item, first)
    barrier = threading.Barrier(len(others) + 2)

    def act(who):
        barrier.wait()
        try:
            if who == "reject":  # twice: two reviewers at once
                return reject(boss, annotation).status_code
            got = next_item(who, project)
            return got and got["item"]["id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(others) + 2) as pool:
        results = list(pool.map(act, ["reject", "reject", *others]))

    assert sorted(results[:2]) in ([200, 404], [200, 409])  # one rejection, not two
    assert item.pk not in results[2:]  # the freed place went to its annotator, nobody else
    assert Feedback.objects.count() == 1 and RetiredAnnotation.objects.count() == 1
    item.refresh_from_db()
    assert item.annotation_count == 1
    live = Assignment.objects.filter(item=item, state=LeaseState.LEASED)
    assert [a.user_id for a in live] == [first.pk]
    assert next_item(first, project)["item"]["id"] == item.pk
