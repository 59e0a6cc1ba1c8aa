"""Pre-labeling: the active model scores every item without a human final value, and routing decides
where each goes. Most tests use a model whose probabilities are written into the items themselves, so
every band is hit exactly; the others use the built-in models on real data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from audit.models import AuditEvent
from models_registry import artifacts, services
from models_registry.backends import BACKENDS, Backend, BackendError, Probabilities
from models_registry.models import ModelVersion, Prediction
from models_registry.prelabel import prelabel
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_project
from tests.models_registry import digits, load, synthetic_reviews

pytestmark = pytest.mark.django_db


class ScoresInData(Backend):
    """A model that answers the probabilities stored in each item's data under the model's key."""

    name = "scores_in_data"

    def predict(self, model, data):
        key = model["key"]
        ok = np.array([key in d for d in data], dtype=bool)
        probs = np.array([d.get(key, [0.0] * len(self.labels)) for d in data], dtype=float)
        return Probabilities(classes=list(self.labels), probs=probs.reshape(len(data), len(self.labels)), ok=ok)


@pytest.fixture(autouse=True)
def _scores_in_data_backend(monkeypatch):
    monkeypatch.setitem(BACKENDS, ScoresInData.name, ScoresInData)


def stub_model(project, version: int = 1, key: str = "probs", active: bool = True) -> ModelVersion:
    relative = artifacts.relative_path(project.pk, version)
    artifacts.save({"key": key}, relative)
    return ModelVersion.objects.create(project=project, version=version, backend=ScoresInData.name,
                                       labels=list(project.labels), artifact=relative, active=active)


def items_with(project, *probs, **extra) -> list[Item]:
    """One item per probability row (`probs`), plus any extra data keys given as lists."""
    rows = []
    for n, p in enumerate(probs):
        data = {"text": f"item {n}", "probs": list(p)}
        for key, values in extra.items():
            data[key] = list(values[n])
        rows.append(Item(project=project, data=data, needed=project.overlap))
    return Item.objects.bulk_create(rows)


def fresh(item: Item) -> Item:
    return Item.objects.get(pk=item.pk)


@pytest.fixture
def routed_project(admin, annotator, annotator2, reviewer, ml_engineer):
    return make_project(admin, [annotator, annotator2, reviewer, ml_engineer], auto_accept_threshold=0.9,
                        escalation_threshold=0.6, audit_rate=0.0, overlap=2, escalated_overlap=4)


def test_each_item_goes_to_the_band_of_its_confidence(routed_project):
    stub_model(routed_project)
    sure_pos, sure_neg, at_threshold, middling, at_escalation, unsure = items_with(
        routed_project, [0.97, 0.03], [0.02, 0.98], [0.9, 0.1], [0.75, 0.25], [0.4, 0.6], [0.55, 0.45])

    outcome = prelabel(routed_project, seed=0)

    assert outcome.scored == 6
    assert outcome.bands == {"auto_accept": 3, "normal": 2, "escalate": 1}
    for item, label in ((sure_pos, "pos"), (sure_neg, "neg"), (at_threshold, "pos")):
        item = fresh(item)
        assert item.status == ItemStatus.AUTO_ACCEPTED
        assert item.final_value == {"label": label}
        assert item.final_source == FinalSource.MODEL
        assert item.final_at is not None
    for item in (middling, at_escalation):
        item = fresh(item)
        assert (item.status, item.needed, item.final_source, item.final_value) == (ItemStatus.QUEUED, 2, "", None)
    unsure = fresh(unsure)
    assert (unsure.status, unsure.needed, unsure.final_source) == (ItemStatus.QUEUED, 4, "")
    assert unsure.review_reason == ""
    # Acceptances are in the audit trail.
    accepted = AuditEvent.objects.filter(project_id=routed_project.pk, action="final.set")
    assert sorted(accepted.values_list("item_id", flat=True)) == sorted([sure_pos.pk, sure_neg.pk, at_threshold.pk])
    assert accepted.first().payload["source"] == "model"


def test_escalated_items_default_to_one_more_annotation_than_the_overlap(admin):
    project = make_project(admin, escalation_threshold=0.6, overlap=2)
    stub_model(project)
    unsure, normal = items_with(project, [0.5, 0.5], [0.8, 0.2])

    prelabel(project)

    assert (fresh(unsure).needed, fresh(normal).needed) == (3, 2)


def test_audit_samples_go_to_review_with_the_model_value_until_a_reviewer_decides(routed_project):
    routed_project.audit_rate = 1.0
    routed_project.save()
    stub_model(routed_project)
    sure, middling = items_with(routed_project, [0.99, 0.01], [0.7, 0.3])

    outcome = prelabel(routed_project)

    sure = fresh(sure)
    assert sure.status == ItemStatus.IN_REVIEW
    assert sure.review_reason == "audit"
    assert (sure.final_value, sure.final_source) == ({"label": "pos"}, FinalSource.MODEL)
    assert fresh(middling).status == ItemStatus.QUEUED
    assert outcome.bands == {"audit": 1, "normal": 1}


def test_about_an_audit_rate_share_of_accepted_items_is_audited(routed_project):
    routed_project.audit_rate = 0.2
    routed_project.save()
    stub_model(routed_project)
    items_with(routed_project, *([[0.99, 0.01]] * 400))

    prelabel(routed_project, seed=3)

    audited = Item.objects.filter(project=routed_project, status=ItemStatus.IN_REVIEW, review_reason="audit")
    accepted = Item.objects.filter(project=routed_project, status=ItemStatus.AUTO_ACCEPTED)
    assert 50 < audited.count() < 110
    assert audited.count() + accepted.count() == 400


def test_the_item_keeps_the_prediction_and_every_version_has_its_own_row(routed_project):
    stub_model(routed_project)
    (item,) = items_with(routed_project, [0.7, 0.3])

    prelabel(routed_project)

    item = fresh(item)
    assert item.prediction == {"model_version": 1, "value": {"label": "pos"}, "confidence": 0.7,
                               "scores": {"pos": 0.7, "neg": 0.3}}
    assert item.confidence == pytest.approx(0.7)
    prediction = Prediction.objects.get(item=item)
    assert prediction.model_version.version == 1
    assert prediction.value == {"label": "pos"}
    assert prediction.scores == {"pos": 0.7, "neg": 0.3}
    assert prediction.confidence == pytest.approx(0.7)


def test_a_new_model_version_rescores_and_reroutes(routed_project):
    v1 = stub_model(routed_project, 1, key="probs")
    accepted_by_v1, queued_by_v1 = items_with(routed_project, [0.97, 0.03], [0.7, 0.3],
                                              probs_v2=[[0.65, 0.35], [0.01, 0.99]])
    prelabel(routed_project)
    assert fresh(accepted_by_v1).status == ItemStatus.AUTO_ACCEPTED

    v2 = stub_model(routed_project, 2, key="probs_v2", active=False)
    services.activate(v2)
    prelabel(routed_project)

    back = fresh(accepted_by_v1)
    assert (back.status, back.final_value, back.final_source, back.final_at) == (ItemStatus.QUEUED, None, "", None)
    assert back.needed == 2
    assert back.prediction["model_version"] == 2
    now_sure = fresh(queued_by_v1)
    assert now_sure.status == ItemStatus.AUTO_ACCEPTED
    assert now_sure.final_value == {"label": "neg"}
    rows = Prediction.objects.filter(item=accepted_by_v1).order_by("model_version__version")
    assert [(p.model_version_id, p.scores) for p in rows] == [
        (v1.pk, {"pos": 0.97, "neg": 0.03}), (v2.pk, {"pos": 0.65, "neg": 0.35})]
    assert Prediction.objects.filter(item__project=routed_project).count() == 4


def test_runs_twice_same_result(routed_project):
    routed_project.audit_rate = 0.3
    routed_project.save()
    stub_model(routed_project)
    rng = np.random.default_rng(5)
    p = rng.random(300)
    items_with(routed_project, *np.c_[p, 1 - p].tolist())
    columns = ["id", "status", "needed", "priority", "confidence", "prediction", "final_value", "final_source",
               "review_reason"]

    def state():
        items = list(Item.objects.filter(project=routed_project).order_by("id").values(*columns))
        predictions = list(Prediction.objects.filter(item__project=routed_project).order_by("item_id", "id")
                           .values("id", "item_id", "model_version_id", "value", "confidence", "scores"))
        return items, predictions

    prelabel(routed_project)
    first = state()
    assert {i["status"] for i in first[0]} == {"queued", "auto_accepted", "in_review"}

    prelabel(routed_project)

    assert state() == first


def test_items_someone_has_annotated_are_never_auto_accepted(routed_project, annotator, annotator2, as_user):
    stub_model(routed_project)
    (item,) = items_with(routed_project, [0.99, 0.01])
    assert as_user(annotator).get(f"/api/projects/{routed_project.pk}/next/").json()["item"]["id"] == item.pk
    r = as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "neg"}}, format="json")
    assert r.status_code == 201

    prelabel(routed_project)

    item = fresh(item)
    assert (item.status, item.final_source, item.final_value) == (ItemStatus.QUEUED, "", None)
    assert item.annotation_count == 1 and item.needed == 2
    assert item.prediction["confidence"] == 0.99  # it still gets the prediction
    # The second annotator still gets it.
    assert as_user(annotator2).get(f"/api/projects/{routed_project.pk}/next/").json()["item"]["id"] == item.pk


def test_human_final_values_are_never_touched(routed_project):
    stub_model(routed_project)
    gold, consensus, reviewed, disputed = items_with(routed_project, *([[0.99, 0.01]] * 4))
    Item.objects.filter(pk=gold.pk).update(gold={"label": "neg"}, final_value={"label": "neg"},
                                           final_source=FinalSource.GOLD, status=ItemStatus.DONE)
    Item.objects.filter(pk=consensus.pk).update(final_value={"label": "neg"}, final_source=FinalSource.CONSENSUS,
                                                status=ItemStatus.DONE, annotation_count=2)
    Item.objects.filter(pk=reviewed.pk).update(final_value={"label": "neg"}, final_source=FinalSource.REVIEWER,
                                               status=ItemStatus.DONE, annotation_count=2)
    Item.objects.filter(pk=disputed.pk).update(status=ItemStatus.IN_REVIEW, review_reason="disagreement",
                                               annotation_count=2)
    columns = ["id", "status", "final_value", "final_source", "final_at", "prediction", "priority", "needed",
               "review_reason", "updated_at"]
    before = list(Item.objects.filter(project=routed_project).order_by("id").values(*columns))

    outcome = prelabel(routed_project)

    assert outcome.scored == 0
    assert list(Item.objects.filter(project=routed_project).order_by("id").values(*columns)) == before
    assert not Prediction.objects.exists()


@pytest.mark.parametrize("strategy, order", [
    ("least_confidence", ["A", "B", "sure"]),
    ("margin", ["B", "A", "sure"]),
    ("entropy", ["A", "B", "sure"]),
    ("sequential", ["sure", "A", "B"]),
])
def test_next_serves_items_in_the_order_of_the_strategy(admin, annotator, as_user, strategy, order):
    project = make_project(admin, [annotator], labels=["x", "y", "z"], strategy=strategy)
    stub_model(project)
    rows = {"sure": [0.98, 0.01, 0.01], "A": [0.5, 0.25, 0.25], "B": [0.55, 0.45, 0.0]}
    name_of = {item.pk: name for item, name in zip(items_with(project, *rows.values()), rows)}

    prelabel(project)

    served = []
    for _ in rows:
        exclude = ",".join(str(pk) for pk in served)
        r = as_user(annotator).get(f"/api/projects/{project.pk}/next/", {"exclude": exclude})
        served.append(r.json()["item"]["id"])
    assert [name_of[pk] for pk in served] == order


def test_multi_label_priorities_put_the_least_sure_decision_first(admin):
    project = make_project(admin, task_type="multi_label", labels=["a", "b", "c"])
    stub_model(project)
    all_no, all_yes, unsure = items_with(project, [0.01, 0.01, 0.01], [0.99, 0.99, 0.99], [0.99, 0.5, 0.01])

    prelabel(project)

    assert fresh(unsure).priority > fresh(all_no).priority
    assert fresh(unsure).priority > fresh(all_yes).priority
    assert fresh(all_yes).prediction["value"] == {"labels": ["a", "b", "c"]}
    assert fresh(unsure).confidence == pytest.approx(0.5)


def test_without_an_active_model_prelabel_refuses_and_changes_nothing(routed_project):
    stub_model(routed_project, active=False)
    (item,) = items_with(routed_project, [0.99, 0.01])

    with pytest.raises(BackendError, match="no active model"):
        prelabel(routed_project)

    assert fresh(item).status == ItemStatus.NEW
    assert not Prediction.objects.exists()


def test_a_trained_text_model_predicts_every_unlabeled_item(admin):
    project = make_project(admin, labels=["fresh", "rotten"], auto_accept_threshold=0.95)
    truth = load(project, synthetic_reviews(80), gold=40)
    mv = train(project)

    outcome = prelabel(project)

    unlabeled = Item.objects.filter(project=project).exclude(final_source=FinalSource.GOLD)
    assert outcome.scored == unlabeled.count() == 40
    predictions = Prediction.objects.filter(model_version=mv)
    assert predictions.count() == 40
    for p in predictions:
        assert set(p.scores) == {"fresh", "rotten"}
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.confidence == pytest.approx(max(p.scores.values()), abs=1e-5)
    right = sum(p.value["label"] == truth[p.item_id] for p in predictions)
    assert right >= 36
    for item in unlabeled:
        assert item.priority == pytest.approx(1.0 - item.confidence)  # least confidence


def test_a_broken_image_is_skipped_not_fatal(admin):
    project = make_project(admin, name="Digits", labels=[str(d) for d in range(10)])
    load(project, digits(70), gold=50)
    train(project)
    junk = Path(settings.MEDIA_ROOT) / "test-broken" / "junk.png"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"this is not a png")
    broken = Item.objects.bulk_create([
        Item(project=project, data={"image": f"{settings.MEDIA_URL}test-broken/junk.png"}),
        Item(project=project, data={"image": f"{settings.MEDIA_URL}test-broken/missing.png"}),
        Item(project=project, data={"image": "https://elsewhere.example/x.png"}),
    ])

    outcome = prelabel(project)

    assert outcome.unreadable == 3
    assert outcome.scored == 20
    for item in broken:
        item = fresh(item)
        assert (item.status, item.prediction) == (ItemStatus.NEW, None)
    assert not Prediction.objects.filter(item__in=broken).exists()
    assert Item.objects.filter(project=project, prediction__isnull=False).count() == 20



def test_a_second_run_records_no_new_decisions_for_items_it_already_accepted(routed_project):
    stub_model(routed_project)
    items_with(routed_project, *[[0.99, 0.01]] * 20, *[[0.6, 0.4]] * 5)
    prelabel(routed_project)
    decisions = AuditEvent.objects.filter(project_id=routed_project.pk, action="final.set").count()
    assert decisions > 0

    prelabel(routed_project)

    assert AuditEvent.objects.filter(project_id=routed_project.pk, action="final.set").count() == decisions
