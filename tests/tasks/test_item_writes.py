"""`tasks.items`, the one writer of an item's life, on the real database."""
from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from tasks import items, lifecycle
from tasks.models import Item
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


def scored(item: Item, band: str, *, was=None) -> dict:
    now = timezone.now()
    return {"id": item.pk, "prediction": {"value": {"label": "pos"}, "confidence": 0.99}, "confidence": 0.99,
            "priority": 0.5, "needed": 1, "life": lifecycle.routed("queued", "", band, {"label": "pos"}, now),
            "was": was or ("queued", "", 0)}


def test_a_batch_a_model_scored_is_routed_in_one_write(admin):
    project = make_project(admin)
    sure, unsure = make_items(project, 2, status="queued")

    written = items.write_many([scored(sure, "auto_accept"), scored(unsure, "normal")], timezone.now())

    assert written == {sure.pk, unsure.pk}
    sure.refresh_from_db()
    unsure.refresh_from_db()
    assert (sure.status, sure.final_source, sure.final_value) == ("auto_accepted", "model", {"label": "pos"})
    assert (unsure.status, unsure.final_source, unsure.priority) == ("queued", "", 0.5)


def test_an_annotation_that_settled_the_item_while_the_model_scored_it_stands(admin):
    """Pre-labeling reads a batch, then writes it; an item settled in between keeps its consensus."""
    project = make_project(admin)
    [item] = make_items(project, 1, status="queued")
    read_as = ("queued", "", 0)
    Item.objects.filter(pk=item.pk).update(annotation_count=1)  # an annotator's answer arrives...
    item.refresh_from_db()
    items.settle(item, agreed=True, value={"label": "neg"}, escalated=False, reason="1 annotator agreed")

    written = items.write_many([scored(item, "auto_accept", was=read_as)], timezone.now())  # ...then the model's

    assert written == set()
    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value) == ("done", "consensus", {"label": "neg"})
    assert item.prediction["confidence"] == 0.99  # the scores are still the newest model's


def test_a_settled_item_is_written_with_its_audit_record(admin):
    project = make_project(admin)
    [item] = make_items(project, 1, status="queued")

    items.settle(item, agreed=False, value=None, escalated=True, reason="")

    item.refresh_from_db()
    assert (item.status, item.review_reason) == ("in_review", "escalated")
    assert AuditEvent.objects.filter(item_id=item.pk, action="review.requested", payload__reason="escalated").exists()


def test_an_illegal_transition_is_refused_and_changes_nothing(admin, reviewer):
    project = make_project(admin)
    [item] = make_items(project, 1, status="queued")

    with pytest.raises(lifecycle.IllegalTransition):
        items.decide(item, {"label": "pos"}, user=reviewer, reason="review")

    item.refresh_from_db()
    assert (item.status, item.final_source) == ("queued", "")
