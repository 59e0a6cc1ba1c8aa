"""Imported predictions with per-box scores, and the routing of imported predictions.

A box prediction's item confidence is its least sure box (or the record's confidence if lower). An
imported prediction with a confidence routes its item as pre-labeling would: auto-accepted, audit,
escalated or normal, with its queue priority; for every task type. Bad scores name the field and
import nothing.
"""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from tasks.models import Item, ItemStatus
from tests.conftest import make_project
from tests.dataio.export_helpers import body_of, export

pytestmark = pytest.mark.django_db

LABELS = ["digit", "letter"]


def post(client, project, records, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/projects/{project.pk}/import/?{query}", records, format="json")


def box(x, y, w=10, h=10, label="digit", **extra) -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label, **extra}


@pytest.fixture
def boxes(admin, annotator, annotator2):
    return make_project(admin, [annotator, annotator2], name="Boxes", task_type="boxes", labels=LABELS,
                        auto_accept_threshold=0.9, escalation_threshold=0.6, audit_rate=0.0, gold_rate=0.0)


def record(name: str, prediction: dict | None = None, **extra) -> dict:
    return {"data": {"image": f"/media/{name}.png"}, "external_id": name,
            **({"prediction": prediction} if prediction is not None else {}), **extra}


def by_name(project) -> dict[str, Item]:
    return {i.external_id: i for i in Item.objects.filter(project=project)}


def test_box_scores_set_the_confidence_and_route_the_item(as_user, admin, annotator, boxes):
    records = [
        record("sure", {"value": {"boxes": [box(0, 0, score=0.97), box(20, 0, label="letter", score=0.95)]},
                        "model_version": "detr-2"}),
        record("one-unsure", {"value": {"boxes": [box(0, 0), box(20, 0)]},
                              "scores": {"boxes": [box(0, 0, score=0.99), box(20, 0, score=0.4)]}}),
        record("unsure-overall", {"value": {"boxes": [box(0, 0, score=0.95)]}, "confidence": 0.7}),
        record("confidence-only", {"value": {"boxes": [box(0, 0)]}, "confidence": 0.92}),
        record("unscored", {"value": {"boxes": [box(0, 0)]}}),
        record("gold", {"value": {"boxes": [box(0, 0, score=0.99)]}}, gold={"boxes": [box(1, 1)]}),
    ]

    r = post(as_user(admin), boxes, records)

    assert r.status_code == 201, r.content
    items = by_name(boxes)
    sure = items["sure"]
    assert (sure.status, sure.final_source, sure.confidence) == (ItemStatus.AUTO_ACCEPTED, "model", 0.95)
    assert sure.final_value == {"boxes": [box(0, 0), box(20, 0, label="letter")]}  # the value holds no scores
    assert sure.prediction == {"model_version": "detr-2", "value": sure.final_value, "confidence": 0.95,
                               "scores": {"boxes": [box(0, 0, score=0.97), box(20, 0, label="letter", score=0.95)]}}
    event = AuditEvent.objects.get(item_id=sure.pk, action="final.set")
    assert event.payload == {"value": sure.final_value, "source": "model", "model_version": "detr-2",
                             "confidence": 0.95, "audit": False, "imported": True}
    # One unsure box sends the item to people, escalated; a low record confidence weighs as much.
    assert (items["one-unsure"].status, items["one-unsure"].confidence, items["one-unsure"].needed) == (
        ItemStatus.QUEUED, 0.4, 2)
    assert (items["unsure-overall"].confidence, items["unsure-overall"].needed) == (0.7, 1)
    assert items["confidence-only"].status == ItemStatus.AUTO_ACCEPTED
    # No score and no confidence: nothing to route by; the item waits, unordered, as before.
    unscored = items["unscored"]
    assert (unscored.status, unscored.confidence, unscored.priority, unscored.needed) == (
        ItemStatus.QUEUED, None, 0.0, 1)
    assert (items["gold"].status, items["gold"].final_source) == (ItemStatus.DONE, "gold")
    # The queue serves the least sure box first.
    served = as_user(annotator).get(f"/api/projects/{boxes.pk}/next/").json()["item"]["id"]
    assert served == items["one-unsure"].pk
    order = Item.objects.filter(project=boxes, status=ItemStatus.QUEUED).order_by("-priority", "id")
    assert [i.external_id for i in order] == ["one-unsure", "unsure-overall", "unscored"]


def test_an_audit_share_of_accepted_imports_goes_to_review(as_user, admin, boxes):
    boxes.audit_rate = 1.0
    boxes.save()
    records = [record(f"i{n}", {"value": {"boxes": [box(0, 0, score=0.99)]}}) for n in range(3)]
    records.append(record("unsure", {"value": {"boxes": [box(0, 0, score=0.3)]}}))

    assert post(as_user(admin), boxes, records).status_code == 201

    items = by_name(boxes)
    for n in range(3):
        item = items[f"i{n}"]
        assert (item.status, item.review_reason, item.final_source) == (ItemStatus.IN_REVIEW, "audit", "model")
        assert AuditEvent.objects.get(item_id=item.pk, action="final.set").payload["audit"] is True
    assert items["unsure"].status == ItemStatus.QUEUED


def test_items_checked_against_known_external_ids_are_routed_too(as_user, admin, boxes):
    """A project with external ids takes the checked path (not COPY straight from the parser)."""
    Item.objects.create(project=boxes, external_id="known", data={"image": "/media/k.png"})

    r = post(as_user(admin), boxes, [record("new", {"value": {"boxes": [box(0, 0, score=0.99)]}})])

    assert r.status_code == 201, r.content
    item = by_name(boxes)["new"]
    assert (item.status, item.confidence) == (ItemStatus.AUTO_ACCEPTED, 0.99)
    assert AuditEvent.objects.filter(item_id=item.pk, action="final.set").count() == 1


def test_an_item_people_began_on_is_never_accepted_by_a_prediction(as_user, admin, annotator, boxes):
    boxes.overlap = 2
    boxes.save()
    records = [record("begun", {"value": {"boxes": [box(0, 0, score=0.99)]}},
                      annotations=[{"user": annotator.username, "value": {"boxes": [box(0, 0)]}}])]

    assert post(as_user(admin), boxes, records).status_code == 201

    item = by_name(boxes)["begun"]
    assert (item.status, item.final_source, item.needed, item.confidence) == (ItemStatus.QUEUED, "", 2, 0.99)


def test_classification_predictions_are_routed_the_same_way(as_user, admin, annotator, project):
    project.auto_accept_threshold, project.escalation_threshold, project.audit_rate = 0.9, 0.6, 0.0
    project.strategy = "margin"
    project.save()
    records = [{"data": {"text": "sure"}, "prediction": {"value": {"label": "pos"}, "confidence": 0.95}},
               {"data": {"text": "close"}, "prediction": {"value": {"label": "pos"}, "confidence": 0.55,
                                                          "scores": {"pos": 0.55, "neg": 0.45}}},
               {"data": {"text": "leaning"}, "prediction": {"value": {"label": "neg"}, "confidence": 0.75,
                                                            "scores": {"pos": 0.25, "neg": 0.75}}}]

    assert post(as_user(admin), project, records).status_code == 201

    sure, close, leaning = Item.objects.order_by("id")
    assert (sure.status, sure.final_value) == (ItemStatus.AUTO_ACCEPTED, {"label": "pos"})
    assert (close.status, close.needed) == (ItemStatus.QUEUED, 2)
    assert (leaning.status, leaning.needed) == (ItemStatus.QUEUED, 1)
    # Margin order from the class probabilities: 1 - (0.55 - 0.45) before 1 - (0.75 - 0.25).
    assert close.priority == pytest.approx(0.9) and leaning.priority == pytest.approx(0.5)
    assert as_user(annotator).get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == close.pk


def test_an_update_routes_a_waiting_item_and_leaves_a_settled_one(as_user, admin, boxes):
    waiting = Item.objects.create(project=boxes, external_id="waiting", data={"image": "/media/w.png"})
    settled = Item.objects.create(project=boxes, external_id="settled", data={"image": "/media/s.png"},
                                  status=ItemStatus.DONE, final_source="consensus", final_value={"boxes": [box(5, 5)]})
    prediction = {"value": {"boxes": [box(0, 0, score=0.96)]}}

    r = post(as_user(admin), boxes, [record("waiting", prediction), record("settled", prediction)],
             on_duplicate="update")

    assert r.status_code == 201 and r.json()["updated"] == 2
    waiting.refresh_from_db()
    settled.refresh_from_db()
    assert (waiting.status, waiting.final_value, waiting.confidence) == (
        ItemStatus.AUTO_ACCEPTED, {"boxes": [box(0, 0)]}, 0.96)
    assert AuditEvent.objects.filter(item_id=waiting.pk, action="final.set", payload__imported=True).exists()
    assert (settled.status, settled.final_value) == (ItemStatus.DONE, {"boxes": [box(5, 5)]})
    assert settled.prediction["scores"] == {"boxes": [box(0, 0, score=0.96)]}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_with_box_scores_imports_back_with_the_same_prediction(as_user, admin, boxes, fmt):
    prediction = {"model_version": 3, "value": {"boxes": [box(0, 0), box(30, 0)]}, "confidence": 0.45,
                  "scores": {"boxes": [box(0, 0, score=0.98), box(30, 0, score=0.45)]}}
    Item.objects.create(project=boxes, external_id="p", data={"image": "/media/p.png"}, status=ItemStatus.QUEUED,
                        prediction=prediction, confidence=0.45)
    body = body_of(export(as_user(admin), boxes, fmt))
    copy = make_project(admin, name="Copy", task_type="boxes", labels=LABELS, auto_accept_threshold=0.9,
                        escalation_threshold=0.6)

    r = as_user(admin).post(f"/api/projects/{copy.pk}/import/",
                            {"file": SimpleUploadedFile(f"export.{fmt}", body.encode())}, format="multipart")

    assert r.status_code == 201, r.content
    item = Item.objects.get(project=copy)
    expected = prediction | {"model_version": "3"} if fmt == "csv" else prediction  # a CSV cell has no type
    assert (item.prediction, item.confidence, item.status, item.needed) == (expected, 0.45, ItemStatus.QUEUED, 2)


def test_label_studio_region_scores_are_the_box_scores(as_user, admin, boxes):
    def region(x, score):
        return {"type": "rectanglelabels", "original_width": 100, "original_height": 100, "score": score,
                "value": {"x": x, "y": 0, "width": 10, "height": 10, "rectanglelabels": ["digit"]}}

    task = {"data": {"image": "/media/ls.png"}, "predictions": [{"model_version": "yolo", "score": 0.9,
                                                                 "result": [region(0, 0.97), region(50, 0.65)]}]}

    assert post(as_user(admin), boxes, [task]).status_code == 201

    item = Item.objects.get(project=boxes)
    assert (item.confidence, item.status, item.needed) == (0.65, ItemStatus.QUEUED, 1)
    assert [b["score"] for b in item.prediction["scores"]["boxes"]] == [0.97, 0.65]


@pytest.mark.parametrize("prediction, field, message", [
    ({"value": {"boxes": [box(0, 0, score=1.5)]}}, "prediction.value.boxes[0].score",
     "must be a probability between 0 and 1"),
    ({"value": {"boxes": [box(0, 0, score="sure")]}}, "prediction.value.boxes[0].score",
     "must be a probability between 0 and 1"),
    ({"value": {"boxes": [box(0, 0, score=0.9), box(5, 5)]}}, "prediction.value.boxes[1].score",
     "is required when other boxes have one"),
    ({"value": {"boxes": [box(0, 0, w=-3, score=0.9)]}}, "prediction.value.boxes[0].w",
     "must be a positive number of pixels"),
    ({"value": {"boxes": [box(0, 0, label="cat", score=0.9)]}}, "prediction.value.boxes[0].label",
     "unknown label 'cat'; the project's labels are ['digit', 'letter']"),
    ({"value": {"boxes": [box(0, 0)]}, "scores": {"digit": 0.9}}, "prediction.scores",
     'must be {"boxes": [...]}, a {..., "score"} per part of prediction.value.boxes'),
    ({"value": {"boxes": [box(0, 0)]}, "scores": {"boxes": []}}, "prediction.scores.boxes",
     "has 0 entries for 1 parts"),
    ({"value": {"boxes": [box(0, 0)]}, "scores": {"boxes": [box(0, 0)]}}, "prediction.scores.boxes[0].score",
     "is required"),
    ({"value": {"boxes": [box(0, 0)]}, "scores": {"boxes": [{"score": -0.1}]}}, "prediction.scores.boxes[0].score",
     "must be a probability between 0 and 1"),
    ({"value": {"boxes": [box(0, 0)]}, "scores": {"boxes": [box(9, 0, score=0.9)]}}, "prediction.scores.boxes[0].x",
     "differs from prediction.value.boxes[0].x"),
    ({"value": {"boxes": [box(0, 0, score=0.8)]}, "scores": {"boxes": [{"score": 0.9}]}}, "prediction.scores.boxes",
     "differ from the scores in prediction.value.boxes"),
    ({"value": {"boxes": [box(0, 0, score=0.8)]}, "confidence": 2}, "prediction.confidence",
     "must be a number between 0 and 1"),
])
def test_bad_box_scores_name_the_field_and_import_nothing(as_user, admin, boxes, prediction, field, message):
    records = [record("fine", {"value": {"boxes": [box(0, 0, score=0.99)]}}), record("bad", prediction)]

    r = post(as_user(admin), boxes, records)

    assert r.status_code == 400, r.content
    [error] = r.json()["errors"]
    assert (error["record"], error["field"], error["message"]) == (2, field, message)
    assert not Item.objects.exists() and not AuditEvent.objects.filter(action="final.set").exists()
