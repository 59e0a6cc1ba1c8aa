"""Span predictions with a score per span: imported (e.g. an export of a pre-labeled project read back),
the item's confidence is its least sure span and the scores stay with their spans."""
from __future__ import annotations

import pytest

from tasks.models import Item
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

TEXT = "Ada Lovelace met Charles Babbage in London."


def span(start, end, label, **extra) -> dict:
    return {"start": start, "end": end, "label": label, **extra}


@pytest.fixture
def entities(admin):
    return make_project(admin, name="Entities", task_type="spans", labels=["PER", "LOC"], overlap=1,
                        auto_accept_threshold=0.9, escalation_threshold=None, audit_rate=0.0, gold_rate=0.0)


def test_an_exported_span_prediction_imports_with_its_scores_in_span_order(as_user, admin, entities):
    # Listed out of text order, as a model may give them: the scores must follow their spans.
    scored = [span(35, 41, "LOC", score=0.97), span(0, 12, "PER", score=0.6), span(17, 32, "PER", score=0.95)]
    record = {"data": {"text": TEXT}, "external_id": "s1",
              "prediction": {"value": {"spans": [{k: s[k] for k in ("start", "end", "label")} for s in scored]},
                             "scores": {"spans": scored}, "model_version": 3}}

    r = as_user(admin).post(f"/api/projects/{entities.pk}/import/", [record], format="json")

    assert r.status_code == 201, r.content
    item = Item.objects.get(project=entities)
    assert item.confidence == 0.6 and item.status == "queued"  # the least sure span keeps it from auto-accept
    assert item.prediction["scores"]["spans"] == [span(0, 12, "PER", score=0.6), span(17, 32, "PER", score=0.95),
                                                  span(35, 41, "LOC", score=0.97)]


def test_a_span_score_out_of_range_is_refused_naming_the_span(as_user, admin, entities):
    record = {"data": {"text": TEXT}, "prediction": {"value": {"spans": [span(0, 12, "PER", score=1.5)]}}}

    r = as_user(admin).post(f"/api/projects/{entities.pk}/import/", [record], format="json")

    assert r.status_code == 400
    assert "prediction.value.spans[0].score" in r.content.decode()
    assert not Item.objects.filter(project=entities).exists()
