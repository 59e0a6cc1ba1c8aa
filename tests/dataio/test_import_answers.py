"""Imported labels carry their rubric answers: checked against the project's questions, kept as given."""
from __future__ import annotations

import pytest

from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

QUESTIONS = [{"id": "helpful", "type": "rating", "scale": 5, "labels": ["1", "2", "3", "4", "5"]},
             {"id": "why", "type": "text", "min_length": 10}]


@pytest.fixture
def rubric(admin, annotator):
    return make_project(admin, [annotator], labels=["pos", "neg"], overlap=2, questions=QUESTIONS)


def post(client, project, records):
    return client.post(f"/api/projects/{project.pk}/import/", records, format="json")


def test_answers_in_imported_annotations_and_gold_are_kept(as_user, admin, annotator, rubric):
    value = {"label": "pos", "answers": {"helpful": 4, "why": "warm and precise"}}
    records = [{"data": {"text": "a"}, "annotations": [{"user": annotator.username, "value": value}]},
               {"data": {"text": "b"}, "gold": {"label": "neg", "answers": {"helpful": 2}}}]

    r = post(as_user(admin), rubric, records)

    assert r.status_code == 201, r.content
    assert Annotation.objects.get().value == value
    assert Item.objects.get(gold__isnull=False).gold == {"label": "neg", "answers": {"helpful": 2}}


@pytest.mark.parametrize("answers, field", [({"helpful": 9}, "annotations[0].value.answers.helpful"),
                                            ({"why": "short"}, "annotations[0].value.answers.why"),
                                            ({"mood": 1}, "annotations[0].value.answers.mood")])
def test_a_bad_answer_names_the_question_and_imports_nothing(as_user, admin, annotator, rubric, answers, field):
    records = [{"data": {"text": "a"},
                "annotations": [{"user": annotator.username, "value": {"label": "pos", "answers": answers}}]}]

    r = post(as_user(admin), rubric, records)

    assert r.status_code == 400
    assert field in r.content.decode()
    assert not Item.objects.filter(project=rubric).exists()


def test_answers_for_a_project_without_questions_are_refused(as_user, admin, annotator):
    plain = make_project(admin, [annotator], labels=["pos", "neg"])
    records = [{"data": {"text": "a"}, "gold": {"label": "pos", "answers": {"helpful": 3}}}]

    r = post(as_user(admin), plain, records)

    assert r.status_code == 400 and "gold.answers.helpful" in r.content.decode()
