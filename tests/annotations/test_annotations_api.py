"""Submitting annotations: value shapes per task type, skips, duplicates, and settling an item."""
from __future__ import annotations

import pytest

from annotations.models import Annotation
from audit.models import AuditEvent
from tasks.models import Assignment, FinalSource, Item, ItemStatus, LeaseState, ReviewReason
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


def submit(client, item, body):
    return client.post(f"/api/items/{item.pk}/annotations/", body, format="json")


def one_item(admin, members, task_type="classification", labels=("pos", "neg"), data=None, **fields) -> Item:
    project = make_project(admin, members, task_type=task_type, labels=list(labels), **fields)
    [item] = make_items(project, 1)
    if data is not None:
        Item.objects.filter(pk=item.pk).update(data=data)
        item.refresh_from_db()
    return item


TASKS = {
    "classification": (["pos", "neg"], {"text": "good"}, {"label": "pos"}),
    "multi_label": (["a", "b", "c"], {"text": "t"}, {"labels": ["c", "a"]}),
    "spans": (["PER", "LOC"], {"text": "Ada in London"},
              {"spans": [{"start": 7, "end": 13, "label": "LOC"}, {"start": 0, "end": 3, "label": "PER"}]}),
    "boxes": (["car"], {"image": "https://example.com/a.jpg"},
              {"boxes": [{"x": 1, "y": 2, "w": 30, "h": 40.5, "label": "car"}]}),
    "pairwise": ([], {"prompt": "p", "a": "x", "b": "y"}, {"choice": "tie"}),
}


# --- values per task type -----------------------------------------------------------------------

@pytest.mark.parametrize("task_type", list(TASKS))
def test_annotator_submits_a_value_of_each_task_type(as_user, admin, annotator, task_type):
    labels, data, value = TASKS[task_type]
    item = one_item(admin, [annotator], task_type, labels, data)

    r = submit(as_user(annotator), item, {"value": value, "lead_time": 4.25})

    assert r.status_code == 201
    annotation = Annotation.objects.get(item=item, user=annotator)
    assert r.json()["id"] == annotation.pk
    assert r.json()["user"] == "ann"
    assert annotation.skipped is False
    assert annotation.lead_time == 4.25
    assert annotation.value == r.json()["value"]
    assert AuditEvent.objects.filter(action="annotation.submitted", item_id=item.pk, user=annotator).exists()


def test_spans_are_stored_in_text_order(as_user, admin, annotator):
    labels, data, value = TASKS["spans"]
    item = one_item(admin, [annotator], "spans", labels, data)

    submit(as_user(annotator), item, {"value": value})

    assert Annotation.objects.get().value == {"spans": [{"start": 0, "end": 3, "label": "PER"},
                                                        {"start": 7, "end": 13, "label": "LOC"}]}


def test_a_span_may_end_at_the_end_of_the_text(as_user, admin, annotator):
    item = one_item(admin, [annotator], "spans", ["PER"], {"text": "Ada"})

    r = submit(as_user(annotator), item, {"value": {"spans": [{"start": 0, "end": 3, "label": "PER"}]}})

    assert r.status_code == 201


def test_multi_label_may_choose_no_label(as_user, admin, annotator):
    item = one_item(admin, [annotator], "multi_label", ["a", "b"], {"text": "t"})

    r = submit(as_user(annotator), item, {"value": {"labels": []}})

    assert r.status_code == 201
    assert Annotation.objects.get().value == {"labels": []}


def test_extra_keys_in_a_value_are_dropped(as_user, admin, annotator):
    item = one_item(admin, [annotator])

    submit(as_user(annotator), item, {"value": {"label": "neg", "confidence": "high"}})

    assert Annotation.objects.get().value == {"label": "neg"}


@pytest.mark.parametrize(("task_type", "value", "field"), [
    ("classification", {"label": "meh"}, "value.label"),
    ("classification", {"label": 1}, "value.label"),
    ("classification", {"labels": ["pos"]}, "value.label"),
    ("classification", "pos", "value"),
    ("multi_label", {"labels": "a"}, "value.labels"),
    ("multi_label", {"labels": ["a", "z"]}, "value.labels[1]"),
    ("multi_label", {"labels": ["a", "a"]}, "value.labels[1]"),
    ("spans", {"spans": {"start": 0}}, "value.spans"),
    ("spans", {"spans": [{"start": 0, "end": 3}]}, "value.spans[0].label"),
    ("spans", {"spans": [{"start": -1, "end": 3, "label": "PER"}]}, "value.spans[0].start"),
    ("spans", {"spans": [{"start": 3, "end": 3, "label": "PER"}]}, "value.spans[0].end"),
    ("spans", {"spans": [{"start": 0, "end": 3, "label": "PER"}, {"start": 4, "end": 14, "label": "LOC"}]},
     "value.spans[1].end"),
    ("spans", {"spans": [{"start": 0, "end": 3.5, "label": "PER"}]}, "value.spans[0].end"),
    ("spans", {"spans": [{"start": 0, "end": 3, "label": "ORG"}]}, "value.spans[0].label"),
    ("boxes", {"boxes": [{"x": 1, "y": 2, "w": 3, "label": "car"}]}, "value.boxes[0].h"),
    ("boxes", {"boxes": [{"x": -1, "y": 2, "w": 3, "h": 4, "label": "car"}]}, "value.boxes[0].x"),
    ("boxes", {"boxes": [{"x": 1, "y": 2, "w": 0, "h": 4, "label": "car"}]}, "value.boxes[0].w"),
    ("boxes", {"boxes": [{"x": 1, "y": "2", "w": 3, "h": 4, "label": "car"}]}, "value.boxes[0].y"),
    ("boxes", {"boxes": [{"x": 1, "y": 2, "w": 3, "h": True, "label": "car"}]}, "value.boxes[0].h"),
    ("boxes", {"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "bus"}]}, "value.boxes[0].label"),
    ("pairwise", {"choice": "c"}, "value.choice"),
    ("pairwise", {}, "value.choice"),
])
def test_values_that_do_not_fit_are_refused_naming_the_field(as_user, admin, annotator, task_type, value, field):
    labels, data, _ = TASKS[task_type]
    item = one_item(admin, [annotator], task_type, labels, data)

    r = submit(as_user(annotator), item, {"value": value})

    assert r.status_code == 400
    assert field in r.json()
    assert not Annotation.objects.exists()
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (0, ItemStatus.NEW)


def test_a_value_is_required_unless_skipping(as_user, admin, annotator):
    item = one_item(admin, [annotator])

    r = submit(as_user(annotator), item, {"lead_time": 3})

    assert r.status_code == 400
    assert "value" in r.json()
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("lead_time", [-1, "slow", 10 ** 9])
def test_implausible_lead_time_is_refused(as_user, admin, annotator, lead_time):
    item = one_item(admin, [annotator])

    r = submit(as_user(annotator), item, {"value": {"label": "pos"}, "lead_time": lead_time})

    assert r.status_code == 400
    assert "lead_time" in r.json()
    assert not Annotation.objects.exists()


def test_lead_time_is_optional(as_user, admin, annotator):
    item = one_item(admin, [annotator])

    assert submit(as_user(annotator), item, {"value": {"label": "pos"}}).status_code == 201
    assert Annotation.objects.get().lead_time is None


# --- who may submit -----------------------------------------------------------------------------

def test_second_submission_by_the_same_user_is_409(as_user, admin, annotator):
    item = one_item(admin, [annotator], overlap=2)
    client = as_user(annotator)
    submit(client, item, {"value": {"label": "pos"}})

    r = submit(client, item, {"value": {"label": "neg"}})

    assert r.status_code == 409
    assert list(Annotation.objects.values_list("value", flat=True)) == [{"label": "pos"}]
    item.refresh_from_db()
    assert item.annotation_count == 1


def test_submitting_after_skipping_is_409(as_user, admin, annotator):
    item = one_item(admin, [annotator])
    client = as_user(annotator)
    submit(client, item, {"skip": True})

    r = submit(client, item, {"value": {"label": "neg"}})

    assert r.status_code == 409
    assert Annotation.objects.get().skipped is True


def test_reviewer_and_admin_may_annotate(as_user, admin, reviewer):
    item = one_item(admin, [reviewer], overlap=2)

    assert submit(as_user(reviewer), item, {"value": {"label": "pos"}}).status_code == 201
    assert submit(as_user(admin), item, {"value": {"label": "pos"}}).status_code == 201
    assert Annotation.objects.count() == 2


def test_ml_engineer_cannot_annotate(as_user, admin, ml_engineer):
    item = one_item(admin, [ml_engineer])

    r = submit(as_user(ml_engineer), item, {"value": {"label": "pos"}})

    assert r.status_code == 403
    assert not Annotation.objects.exists()


def test_outsider_cannot_annotate(as_user, admin, annotator, outsider):
    item = one_item(admin, [annotator])

    r = submit(as_user(outsider), item, {"value": {"label": "pos"}})

    assert r.status_code == 404
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("body", [{"value": "junk"}, {"value": {"label": "pos"}, "lead_time": -1}, {}])
def test_outsider_gets_404_whatever_the_body(as_user, admin, annotator, outsider, body):
    item = one_item(admin, [annotator])

    assert submit(as_user(outsider), item, body).status_code == 404


@pytest.mark.parametrize("body", [{"value": "junk"}, {"value": {"label": "pos"}, "lead_time": -1}, {}])
def test_ml_engineer_gets_403_whatever_the_body(as_user, admin, ml_engineer, body):
    item = one_item(admin, [ml_engineer])

    assert submit(as_user(ml_engineer), item, body).status_code == 403


def test_unknown_item_is_404_whatever_the_body(as_user, annotator):
    r = as_user(annotator).post("/api/items/999999/annotations/", {"lead_time": "slow"}, format="json")

    assert r.status_code == 404


def test_annotating_unknown_item_is_404(as_user, annotator):
    assert as_user(annotator).post("/api/items/999999/annotations/", {"value": {"label": "pos"}},
                                   format="json").status_code == 404


# --- skips --------------------------------------------------------------------------------------

def test_skip_is_recorded_and_counts_for_nothing(as_user, admin, annotator):
    item = one_item(admin, [annotator])
    as_user(annotator).get(f"/api/projects/{item.project_id}/next/")

    r = submit(as_user(annotator), item, {"skip": True, "lead_time": 1.5, "value": {"label": "not checked"}})

    assert r.status_code == 201
    annotation = Annotation.objects.get()
    assert (annotation.skipped, annotation.value, annotation.lead_time) == (True, None, 1.5)
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (0, ItemStatus.NEW)
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SKIPPED
    assert AuditEvent.objects.filter(action="annotation.skipped", item_id=item.pk).exists()


# --- settling -----------------------------------------------------------------------------------

def test_with_overlap_1_one_annotation_makes_the_item_done_by_consensus(as_user, admin, annotator):
    item = one_item(admin, [annotator])
    as_user(annotator).get(f"/api/projects/{item.project_id}/next/")

    r = submit(as_user(annotator), item, {"value": {"label": "neg"}, "lead_time": 2})

    assert r.status_code == 201
    item.refresh_from_db()
    assert (item.status, item.final_value, item.final_source) == (ItemStatus.DONE, {"label": "neg"},
                                                                  FinalSource.CONSENSUS)
    assert item.final_at is not None and item.final_by is None
    assert item.annotation_count == 1
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SUBMITTED
    assert AuditEvent.objects.filter(action="final.set", item_id=item.pk).exists()
    detail = as_user(annotator).get(f"/api/items/{item.pk}/").json()
    assert detail["final"]["source"] == "consensus"


def test_with_overlap_2_one_annotation_leaves_the_item_waiting(as_user, admin, annotator):
    item = one_item(admin, [annotator], overlap=2)

    submit(as_user(annotator), item, {"value": {"label": "pos"}})

    item.refresh_from_db()
    assert (item.status, item.final_source, item.annotation_count) == (ItemStatus.NEW, "", 1)


def test_with_overlap_2_agreeing_values_make_the_item_done(as_user, admin, annotator, annotator2):
    item = one_item(admin, [annotator, annotator2], "multi_label", ["a", "b"], {"text": "t"}, overlap=2)

    submit(as_user(annotator), item, {"value": {"labels": ["a", "b"]}})
    submit(as_user(annotator2), item, {"value": {"labels": ["b", "a"]}})

    item.refresh_from_db()
    assert (item.status, item.final_source) == (ItemStatus.DONE, FinalSource.CONSENSUS)
    assert sorted(item.final_value["labels"]) == ["a", "b"]


def test_with_overlap_2_disagreeing_values_send_the_item_to_review(as_user, admin, annotator, annotator2):
    item = one_item(admin, [annotator, annotator2], overlap=2)

    submit(as_user(annotator), item, {"value": {"label": "pos"}})
    r = submit(as_user(annotator2), item, {"value": {"label": "neg"}})

    assert r.status_code == 201
    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, ReviewReason.DISAGREEMENT)
    assert item.final_source == "" and item.final_value is None
    assert item.annotation_count == 2
    assert AuditEvent.objects.filter(action="review.requested", item_id=item.pk,
                                     payload__reason="disagreement").exists()


def test_a_skip_does_not_fill_a_place(as_user, admin, annotator, annotator2):
    item = one_item(admin, [annotator, annotator2], overlap=2)

    submit(as_user(annotator), item, {"skip": True})
    submit(as_user(annotator2), item, {"value": {"label": "pos"}})

    item.refresh_from_db()
    assert (item.status, item.annotation_count) == (ItemStatus.NEW, 1)


def test_an_unleased_answer_to_a_finished_item_is_refused_and_changes_nothing(
        as_user, admin, annotator, annotator2):
    item = one_item(admin, [annotator, annotator2])
    submit(as_user(annotator), item, {"value": {"label": "pos"}})

    r = submit(as_user(annotator2), item, {"value": {"label": "neg"}})

    assert r.status_code == 409 and "no longer needs your annotation" in r.json()["detail"]
    item.refresh_from_db()
    assert (item.status, item.final_value) == (ItemStatus.DONE, {"label": "pos"})
    assert Annotation.objects.filter(item=item).count() == 1


def test_submitting_without_a_lease_is_accepted(as_user, admin, annotator):
    item = one_item(admin, [annotator])

    r = submit(as_user(annotator), item, {"value": {"label": "pos"}})

    assert r.status_code == 201
    assert Assignment.objects.get(item=item, user=annotator).state == LeaseState.SUBMITTED
