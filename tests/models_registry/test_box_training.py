"""The built-in box model: trained on the human boxes of the demo's digits in seconds, judged by
mAP@0.5 on the held-out fifth, champion against challenger by that, and pre-labeling with it."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from models_registry.backends import BackendError
from models_registry.learners import LEARNERS
from models_registry.models import ModelVersion, Prediction
from models_registry.prelabel import prelabel
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_project, wait_for_job
from tests.models_registry import digits

CELL = 8


def human_box(index: int, label: str = "digit") -> dict:
    """The box a person draws around digit `index` of the demo: the cells with any ink."""
    rows, cols = np.nonzero(load_digits().images[index] > 0)
    return {"x": int(cols.min()) * CELL, "y": int(rows.min()) * CELL, "w": int(cols.max() - cols.min() + 1) * CELL,
            "h": int(rows.max() - rows.min() + 1) * CELL, "label": label}


def digit_items(project, n: int, labeled: int, labels=None) -> list[Item]:
    """The first `n` demo digits; the first `labeled` with a person's box as their consensus value."""
    out = []
    for i, record in enumerate(digits(n)):
        label = labels[int(record["meta_label"])] if labels else "digit"
        fields = {}
        if i < labeled:
            fields = {"final_value": {"boxes": [human_box(i, label)]}, "final_source": FinalSource.CONSENSUS,
                      "status": ItemStatus.DONE}
        out.append(Item(project=project, data=record["data"], external_id=record["external_id"], **fields))
    return Item.objects.bulk_create(out)


@pytest.fixture
def boxes_project(admin, ml_engineer):
    return make_project(admin, [ml_engineer], name="Digit boxes", task_type="boxes", labels=["digit"],
                        auto_accept_threshold=0.9, escalation_threshold=0.5, audit_rate=0.0)


def test_boxes_have_a_learner_decided_by_map():
    learner = LEARNERS["boxes"]
    assert (learner.deciding_metric, learner.headline[0], learner.has_classes) == ("map50", "map50", False)


@pytest.mark.django_db
def test_the_built_in_box_model_trains_on_the_human_boxes_and_is_judged_by_map(boxes_project, ml_engineer):
    digit_items(boxes_project, 140, labeled=100)

    mv = train(boxes_project, user=ml_engineer)

    assert (mv.backend, mv.version, mv.active) == ("builtin_boxes", 1, True)
    assert mv.training_seconds < 60
    assert mv.train_size + mv.holdout_size == 100 and mv.holdout_size > 0
    assert mv.label_counts == {"digit": mv.train_size}
    m = mv.metrics
    assert m["evaluated_on"] == "holdout" and m["test_size"] == mv.holdout_size
    assert m["map50"] >= 0.9 and m["recall"] >= 0.9
    assert m["per_class"]["digit"]["support"] == mv.holdout_size
    assert mv.decision["metric"] == "map50" and mv.decision["outcome"] == "first"

    # The challenger is judged against the champion on the same held-out boxes.
    again = train(boxes_project, user=ml_engineer, force=True)
    assert again.decision["metric"] == "map50"
    assert again.decision["champion"] == m["map50"] and again.decision["outcome"] == "activated"

    outcome = prelabel(boxes_project)

    assert outcome.scored == 40
    predicted = Item.objects.filter(project=boxes_project, final_source="").exclude(confidence=None)
    assert predicted.count() + Item.objects.filter(project=boxes_project, final_source="model").count() == 40
    prediction = Prediction.objects.filter(model_version=again).first()
    assert prediction.confidence == min(b["score"] for b in prediction.scores["boxes"])
    accepted = Item.objects.filter(project=boxes_project, status=ItemStatus.AUTO_ACCEPTED)
    assert accepted.exists()
    for item in accepted[:5]:  # what the model accepted is where a person would draw it
        index = int(item.external_id.removeprefix("digit-"))
        [box] = item.final_value["boxes"]
        truth = human_box(index)
        assert abs(box["x"] - truth["x"]) <= CELL and abs(box["w"] - truth["w"]) <= 2 * CELL


@pytest.mark.django_db
def test_the_box_model_learns_labels_when_the_boxes_have_several(admin):
    names = [f"d{k}" for k in range(10)]
    project = make_project(admin, name="Which digit", task_type="boxes", labels=names)
    digit_items(project, 250, labeled=250, labels=names)

    mv = train(project)

    assert mv.metrics["map50"] > 0.5  # ten classes from 200 crops: far above chance (0.1)
    assert set(mv.label_counts) == set(names)


@pytest.mark.django_db
def test_training_needs_boxes(boxes_project):
    items = digit_items(boxes_project, 12, labeled=12)
    Item.objects.filter(pk__in=[i.pk for i in items]).update(final_value={"boxes": []})

    with pytest.raises(BackendError, match="Training needs boxes"):
        train(boxes_project)

    assert not ModelVersion.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_train_through_the_api_then_the_queue_is_pre_labeled(worker, boxes_project, ml_engineer, as_user):
    digit_items(boxes_project, 80, labeled=60)

    r = as_user(ml_engineer).post(f"/api/projects/{boxes_project.pk}/train/")
    assert r.status_code == 202, r.content
    job = wait_for_job(r.json()["job"])

    assert job.state == "succeeded", job.error
    assert job.result["metrics"]["map50"] >= 0.9
    prelabel_job = wait_for_job(job.result["prelabel_job"])
    assert prelabel_job.state == "succeeded", prelabel_job.error
    assert prelabel_job.result["scored"] == 20
    assert not Item.objects.filter(project=boxes_project, final_source="", confidence=None).exists()
