"""Spans on a real worker, through the REST API: too few labels is a clear failed job; annotators' spans
train a CRF version, which pre-labels, accepts what it is sure of and orders the queue by its
uncertainty; a bad final value fails the next training and leaves that version in service."""
from __future__ import annotations

import pytest

from models_registry import artifacts
from models_registry.backends.spans import SpansBackend
from models_registry.models import ModelVersion
from tasks.models import LABELABLE, Item, ItemStatus
from tests.conftest import wait_for_job
from tests.models_registry import ner

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

THRESHOLD = 0.9


def post_train(ml, pid: int, **body) -> dict:
    r = ml.post(f"/api/projects/{pid}/train/", body, format="json")
    assert r.status_code == 202, r.content
    return r.json()


def label_next(client, pid: int, truth: dict[int, list[dict]]) -> int:
    """Take the next item and mark its true spans; the item's id."""
    r = client.get(f"/api/projects/{pid}/next/")
    assert r.status_code == 200, r.content
    item = r.json()["item"]["id"]
    r = client.post(f"/api/items/{item}/annotations/", {"value": {"spans": truth[item]}}, format="json")
    assert r.status_code == 201, r.content
    return item


def test_spans_train_prelabel_accept_and_order_the_queue_through_the_api(
        worker, admin, annotator, ml_engineer, as_user):
    admin_client, ann, ml = as_user(admin), as_user(annotator), as_user(ml_engineer)
    r = admin_client.post("/api/projects/", {
        "name": "Entities", "task_type": "spans", "labels": ner.LABELS, "overlap": 1,
        "auto_accept_threshold": THRESHOLD, "escalation_threshold": None, "audit_rate": 0.0, "gold_rate": 0.0,
        "strategy": "entropy"}, format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    for user in (annotator, ml_engineer):
        assert admin_client.post(f"/api/projects/{pid}/members/", {"user": user.pk}, format="json").status_code == 201
    records, by_external = ner.records(300, gold=5, seed=3)
    r = admin_client.post(f"/api/projects/{pid}/import/", records, format="json")
    assert r.status_code == 201, r.content
    truth = {pk: by_external[ext] for pk, ext in Item.objects.filter(project_id=pid).values_list("id", "external_id")}

    # Five gold values are too few: the job fails with the reason and no version is made.
    job = wait_for_job(post_train(ml, pid)["job"])
    assert job.state == "failed"
    assert job.error == "Training needs at least 10 labeled items; the project has 5."
    assert not ModelVersion.objects.filter(project_id=pid).exists()

    for _ in range(95):
        label_next(ann, pid, truth)
    job = wait_for_job(post_train(ml, pid)["job"], timeout=120)
    assert job.state == "succeeded", job.error
    result = job.result
    assert (result["version"], result["active"], result["decision"]["metric"]) == (1, True, "f1")
    assert result["metrics"]["f1"] > 0.6, result["metrics"]
    assert set(result["metrics"]["per_class"]) <= set(ner.LABELS)
    r = ml.get(f"/api/projects/{pid}/models/")
    [version] = r.json()
    assert (version["backend"], version["train_size"] + version["holdout_size"]) == ("builtin_spans", 100)
    prelabeled = wait_for_job(result["prelabel_job"], timeout=120)
    assert prelabeled.state == "succeeded", prelabeled.error
    assert prelabeled.result["scored"] == 200 and prelabeled.progress == prelabeled.total == 200

    # Sure items are accepted with the predicted spans; the others wait, the least sure first.
    unlabeled = Item.objects.filter(project_id=pid, annotation_count=0).exclude(final_source="gold")
    accepted = list(unlabeled.filter(status=ItemStatus.AUTO_ACCEPTED))
    queued = list(unlabeled.filter(status__in=LABELABLE))
    assert accepted and queued and len(accepted) + len(queued) == 200
    assert all(i.confidence >= THRESHOLD and i.final_value == i.prediction["value"] for i in accepted)
    assert all(i.confidence < THRESHOLD and i.final_value is None for i in queued)
    right = sum(i.final_value["spans"] == truth[i.pk] for i in accepted)
    assert right / len(accepted) > 0.8, f"{right} of {len(accepted)} accepted items exactly right"

    mv = ModelVersion.objects.get(project_id=pid, version=1)
    unsure = SpansBackend("spans", ner.LABELS).predict_values(artifacts.load(mv.artifact.name),
                                                              [i.data for i in queued]).uncertainty
    assert [i.priority for i in queued] == pytest.approx(list(unsure))
    r = ann.get(f"/api/projects/{pid}/next/")
    assert r.status_code == 200
    served = r.json()
    assert served["item"]["id"] == queued[int(unsure.argmax())].pk  # the highest mean token entropy
    assert served["prediction"]["model_version"] == 1
    spans = served["prediction"]["scores"]["spans"]
    assert [{k: s[k] for k in ("start", "end", "label")} for s in spans] == served["prediction"]["value"]["spans"]
    assert all(0 < s["score"] <= 1 for s in spans)

    # An annotator marks overlapping spans (the API accepts them): the next training fails on them,
    # saying why, and version 1 stays in service.
    item = served["item"]["id"]
    text = Item.objects.get(pk=item).data["text"]
    nested = [{"start": 0, "end": len(text), "label": "ORG"}, {"start": 0, "end": 1, "label": "PER"}]
    r = ann.post(f"/api/items/{item}/annotations/", {"value": {"spans": nested}}, format="json")
    assert r.status_code == 201, r.content
    job = wait_for_job(post_train(ml, pid)["job"], timeout=120)
    assert job.state == "failed"
    assert job.error.startswith("1 of the 101 final values has overlapping spans"), job.error
    assert list(ModelVersion.objects.filter(project_id=pid).values_list("version", "active")) == [(1, True)]
