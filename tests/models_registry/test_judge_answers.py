"""An external judge may suggest answers to a project's rubric questions: checked against the
questions, stored with the prediction (the labeling form pre-selects them, marked "AI")."""
from __future__ import annotations

import json

import pytest

from models_registry.backends import BackendError
from models_registry.backends.external_http import ExternalHTTPBackend
from models_registry.prelabel import prelabel
from tasks.models import Item
from tests.conftest import make_items, make_project

QUESTIONS = [{"id": "helpful", "type": "rating", "scale": 5, "labels": ["1", "2", "3", "4", "5"]},
             {"id": "offensive", "type": "flag"}]


def answering(answers_of):
    """A stand-in for the endpoint's HTTP answer: each item is "pos" at 0.8, with `answers_of(id)`."""
    def ask(self, data, ids):
        return json.dumps({"predictions": [{"id": i, "scores": {"pos": 0.8, "neg": 0.2},
                                            **({"answers": answers_of(i)} if answers_of(i) else {})}
                                           for i in ids]}).encode()
    return ask


def test_suggested_answers_are_checked_and_kept_per_item(monkeypatch):
    monkeypatch.setattr(ExternalHTTPBackend, "_ask", answering(
        lambda i: {"helpful": {"value": 4, "confidence": 0.7}} if i == 1 else None))
    backend = ExternalHTTPBackend("classification", ["pos", "neg"], url="unused", questions=QUESTIONS)

    got = backend.predict_values(None, [{"text": "a"}, {"text": "b"}], ids=[1, 2])

    assert got.values == [{"label": "pos"}, {"label": "pos"}]
    assert got.answers == [{"helpful": {"value": 4, "confidence": 0.7}}, None]


def test_a_suggestion_out_of_range_fails_naming_the_question(monkeypatch):
    monkeypatch.setattr(ExternalHTTPBackend, "_ask", answering(lambda i: {"helpful": {"value": 9}}))
    backend = ExternalHTTPBackend("classification", ["pos", "neg"], url="unused", questions=QUESTIONS)

    with pytest.raises(BackendError, match=r"predictions\[0\]\.answers\.helpful"):
        backend.predict_values(None, [{"text": "a"}], ids=[1])


@pytest.mark.django_db
def test_pre_labeling_stores_the_judges_answers_with_the_prediction(monkeypatch, admin):
    project = make_project(admin, labels=["pos", "neg"], model_backend="http", model_endpoint="http://127.0.0.1:9/",
                           questions=QUESTIONS)
    items = make_items(project, 2)
    monkeypatch.setattr(ExternalHTTPBackend, "_ask", answering(
        lambda i: {"offensive": {"value": False, "confidence": 0.9}} if i == items[0].pk else None))

    prelabel(project)

    first, second = (Item.objects.get(pk=i.pk).prediction for i in items)
    assert first["answers"] == {"offensive": {"value": False, "confidence": 0.9}}
    assert "answers" not in second and second["value"] == {"label": "pos"}
