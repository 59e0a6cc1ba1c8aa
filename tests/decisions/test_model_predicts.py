"""A decision asked without a prediction: the project's active built-in model predicts it inline."""
from __future__ import annotations

import pytest

from decisions.models import Decision
from models_registry.training import train
from tasks.models import Item
from tests.conftest import make_project
from tests.models_registry import load, synthetic_reviews

pytestmark = pytest.mark.django_db


def test_the_active_model_predicts_a_decision_asked_without_one(as_user, admin, ml_engineer):
    project = make_project(admin, [ml_engineer], labels=["fresh", "rotten"], auto_accept_threshold=0.6,
                           audit_rate=0.0)
    load(project, synthetic_reviews(80), gold=80)
    mv = train(project)
    assert mv.active

    r = as_user(ml_engineer).post(f"/api/projects/{project.pk}/decisions/",
                                  {"data": {"text": synthetic_reviews(2)[0]["data"]["text"]}}, format="json")

    assert r.status_code in (201, 202), r.content
    d = Decision.objects.get(pk=r.json()["id"])
    assert d.prediction == {"label": "fresh"} and 0.5 <= d.confidence <= 1.0
    assert Item.objects.get(pk=d.item_id).prediction["model_version"] == mv.version
    if d.confidence >= 0.6:
        assert r.status_code == 201 and r.json()["value"] == {"label": "fresh"}


def test_without_a_model_the_decision_waits_for_a_person(as_user, admin, ml_engineer):
    project = make_project(admin, [ml_engineer], labels=["fresh", "rotten"], auto_accept_threshold=0.6)
    r = as_user(ml_engineer).post(f"/api/projects/{project.pk}/decisions/", {"data": {"text": "fine"}},
                                  format="json")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert Decision.objects.get(pk=r.json()["id"]).prediction is None
