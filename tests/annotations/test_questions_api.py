"""Rubric questions through the API: the project's schema, answers on submit and review, low agreement."""
from __future__ import annotations

import pytest

from annotations.models import Annotation, ReviewDecision
from tasks.models import Item, ItemStatus, Project, ReviewReason
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db

RUBRIC = [
    {"id": "helpful", "type": "rating", "scale": 5, "labels": ["useless", "poor", "ok", "good", "excellent"]},
    {"id": "offensive", "type": "flag"},
    {"id": "why", "type": "text", "required": False, "min_length": 10},
]


def rubric_item(admin, members, **fields) -> Item:
    project = make_project(admin, members, questions=RUBRIC, **fields)
    [item] = make_items(project, 1)
    return item


def submit(client, item, value):
    return client.post(f"/api/items/{item.pk}/annotations/", {"value": value}, format="json")


def test_admin_creates_a_project_with_a_rubric(as_user, admin):
    r = as_user(admin).post("/api/projects/", {"name": "R", "task_type": "classification", "labels": ["a", "b"],
                                               "questions": RUBRIC, "question_spread": 2}, format="json")
    assert r.status_code == 201, r.json()
    project = Project.objects.get(pk=r.json()["id"])
    assert [q["id"] for q in project.questions] == ["helpful", "offensive", "why"]
    assert project.question_spread == 2
    assert r.json()["questions"][1] == {"id": "offensive", "type": "flag", "text": "offensive", "required": True}


def test_a_bad_rubric_is_refused_naming_the_question(as_user, admin):
    bad = [RUBRIC[0], {"id": "x", "type": "rating", "scale": 10}]
    r = as_user(admin).post("/api/projects/", {"name": "R", "task_type": "classification", "labels": ["a"],
                                               "questions": bad}, format="json")
    assert r.status_code == 400
    assert "questions[1].scale" in r.json()["questions"][0]
    assert not Project.objects.filter(name="R").exists()


def test_annotator_submits_answers_with_the_label(as_user, admin, annotator):
    item = rubric_item(admin, [annotator])
    value = {"label": "pos", "answers": {"helpful": 4, "offensive": False, "why": "Clear and to the point."}}
    r = submit(as_user(annotator), item, value)
    assert r.status_code == 201, r.json()
    assert Annotation.objects.get(item=item).value == value
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE
    assert item.final_value == value


@pytest.mark.parametrize("answers, field", [
    ({"helpful": 9, "offensive": False}, "value.answers.helpful"),
    ({"offensive": False}, "value.answers.helpful"),
    ({"helpful": 3, "offensive": "maybe"}, "value.answers.offensive"),
    ({"helpful": 3, "offensive": False, "why": "short"}, "value.answers.why"),
    ({"helpful": 3, "offensive": False, "mood": "x"}, "value.answers.mood"),
])
def test_a_bad_answer_is_refused_naming_the_question_and_nothing_is_stored(as_user, admin, annotator, answers,
                                                                           field):
    item = rubric_item(admin, [annotator])
    r = submit(as_user(annotator), item, {"label": "pos", "answers": answers})
    assert r.status_code == 400
    assert field in r.json()
    assert not Annotation.objects.filter(item=item).exists()
    item.refresh_from_db()
    assert item.status == ItemStatus.NEW and item.annotation_count == 0


def test_consensus_takes_the_median_rating_and_the_majority_flag(as_user, admin, annotator, annotator2):
    item = rubric_item(admin, [annotator, annotator2], overlap=2)
    submit(as_user(annotator), item, {"label": "pos", "answers": {"helpful": 3, "offensive": False}})
    submit(as_user(annotator2), item, {"label": "pos", "answers": {"helpful": 4, "offensive": False}})
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE
    assert item.final_value == {"label": "pos", "answers": {"helpful": 3, "offensive": False}}


def test_ratings_that_spread_too_far_send_an_agreed_item_to_review(as_user, admin, annotator, annotator2):
    item = rubric_item(admin, [annotator, annotator2], overlap=2, question_spread=2)
    submit(as_user(annotator), item, {"label": "pos", "answers": {"helpful": 1, "offensive": False}})
    submit(as_user(annotator2), item, {"label": "pos", "answers": {"helpful": 5, "offensive": False}})
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW
    assert item.review_reason == ReviewReason.LOW_AGREEMENT
    assert item.final_value is None


def test_ratings_within_the_spread_settle_by_consensus(as_user, admin, annotator, annotator2):
    item = rubric_item(admin, [annotator, annotator2], overlap=2, question_spread=2)
    submit(as_user(annotator), item, {"label": "pos", "answers": {"helpful": 3, "offensive": False}})
    submit(as_user(annotator2), item, {"label": "pos", "answers": {"helpful": 5, "offensive": False}})
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE


def test_a_reviewer_decision_without_answers_keeps_the_annotators_answers(as_user, admin, annotator, annotator2,
                                                                         reviewer):
    item = rubric_item(admin, [annotator, annotator2, reviewer], overlap=2, question_spread=1)
    submit(as_user(annotator), item, {"label": "pos", "answers": {"helpful": 1, "offensive": True}})
    submit(as_user(annotator2), item, {"label": "pos", "answers": {"helpful": 5, "offensive": True}})
    r = as_user(reviewer).post(f"/api/items/{item.pk}/review/", {"value": {"label": "neg"}}, format="json")
    assert r.status_code == 200, r.json()
    item.refresh_from_db()
    assert item.final_value == {"label": "neg", "answers": {"helpful": 1, "offensive": True}}
    assert ReviewDecision.objects.get(item=item).reason == ReviewReason.LOW_AGREEMENT


def test_a_reviewer_answer_out_of_range_is_refused(as_user, admin, annotator, reviewer):
    item = rubric_item(admin, [annotator, reviewer])
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT)
    r = as_user(reviewer).post(f"/api/items/{item.pk}/review/",
                               {"value": {"label": "neg", "answers": {"helpful": 0}}}, format="json")
    assert r.status_code == 400
    assert "value.answers.helpful" in r.json()
    assert not ReviewDecision.objects.exists()
