"""The model endpoints: train, models, activate, prelabel and routing-preview, with their role rules.

Jobs run on the real Celery worker where the test says `worker`; elsewhere a job row is only created.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from models_registry import artifacts
from models_registry.learners import LEARNERS
from models_registry.models import ModelVersion, Prediction
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus, Job
from tests.conftest import make_project, wait_for_job
from tests.models_registry import load, synthetic_reviews


@pytest.fixture
def reviews_project(admin, annotator, reviewer, ml_engineer):
    return make_project(admin, [annotator, reviewer, ml_engineer], name="Reviews", labels=["fresh", "rotten"],
                        auto_accept_threshold=0.9, escalation_threshold=0.6, audit_rate=0.0)


def two_versions(project) -> tuple[ModelVersion, ModelVersion]:
    """Version 1 (active) and version 2 (not), each with a stored (compressed, loadable) artifact."""
    versions = []
    for version in (1, 2):
        relative = artifacts.relative_path(project.pk, version)
        artifacts.save({"weights": np.linspace(0.0, 1.0, 5000) * version}, relative)
        versions.append(ModelVersion.objects.create(
            project=project, version=version, backend="builtin_text", labels=list(project.labels),
            train_size=30, metrics={"accuracy": 0.9, "macro_f1": 0.9}, artifact=relative, active=version == 1))
    return versions[0], versions[1]


def active_versions(project) -> list[int]:
    return list(ModelVersion.objects.filter(project=project, active=True).values_list("version", flat=True))


# --- who may do what ---------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("action", ["train", "prelabel"])
@pytest.mark.parametrize("who, status", [("ml_engineer", 202), ("admin", 202), ("annotator", 403),
                                         ("reviewer", 403), ("outsider", 404)])
def test_ml_engineers_and_admins_start_model_jobs(request, as_user, reviews_project, action, who, status):
    user = request.getfixturevalue(who)
    two_versions(reviews_project)

    r = as_user(user).post(f"/api/projects/{reviews_project.pk}/{action}/")

    assert r.status_code == status
    if status == 202:
        assert set(r.json()) == ({"job", "coalesced"} if action == "train" else {"job"})
        job = Job.objects.get(pk=r.json()["job"])
        assert (job.kind, job.state, job.project_id, job.created_by_id) == (action, "pending", reviews_project.pk,
                                                                              user.pk)
    else:
        assert not Job.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["train", "prelabel"])
def test_model_jobs_need_a_token(as_user, reviews_project, action):
    assert as_user(None).post(f"/api/projects/{reviews_project.pk}/{action}/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("ml_engineer", 200), ("admin", 200), ("annotator", 403),
                                         ("reviewer", 403), ("outsider", 404)])
def test_ml_engineers_and_admins_activate_models(request, as_user, reviews_project, who, status):
    v1, v2 = two_versions(reviews_project)

    r = as_user(request.getfixturevalue(who)).post(f"/api/models/{v2.pk}/activate/")

    assert r.status_code == status
    if status == 200:
        assert r.json()["version"] == 2 and r.json()["active"] is True
        assert active_versions(reviews_project) == [2]
    else:
        assert active_versions(reviews_project) == [1]


@pytest.mark.django_db
def test_an_unknown_model_is_not_found(as_user, ml_engineer):
    assert as_user(ml_engineer).post("/api/models/999999/activate/").status_code == 404


@pytest.mark.django_db
def test_members_read_the_model_list_and_outsiders_do_not(as_user, reviews_project, annotator, outsider):
    two_versions(reviews_project)
    assert [m["version"] for m in as_user(annotator).get(f"/api/projects/{reviews_project.pk}/models/").json()] \
        == [2, 1]
    assert as_user(outsider).get(f"/api/projects/{reviews_project.pk}/models/").status_code == 404


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["missing", "junk", "truncated", "flipped"])
def test_a_missing_or_corrupt_model_file_is_refused_and_the_active_model_stays(as_user, ml_engineer,
                                                                                reviews_project, damage):
    v1, v2 = two_versions(reviews_project)
    path = Path(settings.MEDIA_ROOT) / v2.artifact.name
    good = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "junk":
        path.write_bytes(b"this is not a model")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_bytes(good[:40] + bytes(b ^ 0xFF for b in good[40:80]) + good[80:])

    r = as_user(ml_engineer).post(f"/api/models/{v2.pk}/activate/")

    assert r.status_code == 400
    detail = r.json()["detail"]
    assert v2.artifact.name in detail
    assert ("is missing" if damage == "missing" else "is corrupt") in detail
    assert active_versions(reviews_project) == [1]


@pytest.mark.django_db
def test_prelabel_without_an_active_model_is_refused(as_user, ml_engineer, reviews_project):
    load(reviews_project, synthetic_reviews(20), gold=0)

    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/prelabel/")

    assert r.status_code == 400
    assert "no active model" in r.json()["detail"]
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_prelabel_with_an_external_backend_but_no_endpoint_is_refused(as_user, ml_engineer, reviews_project):
    reviews_project.model_backend = "http"
    reviews_project.save()

    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/prelabel/")

    assert r.status_code == 400
    assert "no model endpoint" in r.json()["detail"]


@pytest.mark.django_db
def test_training_a_project_without_a_built_in_model_is_refused(as_user, admin, ml_engineer, monkeypatch):
    monkeypatch.delitem(LEARNERS, "spans")  # every task type has a built-in model now; pretend spans had none
    project = make_project(admin, [ml_engineer], task_type="spans", labels=["PER"])

    r = as_user(ml_engineer).post(f"/api/projects/{project.pk}/train/")

    assert r.status_code == 400
    assert "not spans" in r.json()["detail"]


# --- routing preview -----------------------------------------------------------------------------------

CONFIDENCES = [0.99, 0.95, 0.9, 0.7, 0.6, 0.5, 0.3, 0.1]


@pytest.fixture
def predicted_project(reviews_project):
    Item.objects.bulk_create([Item(project=reviews_project, data={"text": f"t{n}"}, confidence=c,
                                   status=ItemStatus.QUEUED) for n, c in enumerate(CONFIDENCES)])
    Item.objects.bulk_create([
        # The model's own acceptances are predictions it may take back, so they count.
        Item(project=reviews_project, data={"text": "accepted"}, confidence=0.97, status=ItemStatus.AUTO_ACCEPTED,
             final_source=FinalSource.MODEL, final_value={"label": "fresh"}),
        # Not in any band: no prediction, someone annotated it, a human final value.
        Item(project=reviews_project, data={"text": "new"}),
        Item(project=reviews_project, data={"text": "annotated"}, confidence=0.99, status=ItemStatus.QUEUED,
             annotation_count=1),
        Item(project=reviews_project, data={"text": "gold"}, confidence=0.99, status=ItemStatus.DONE,
             final_source=FinalSource.GOLD, final_value={"label": "fresh"}),
    ])
    return reviews_project


def preview(client, project, **params):
    return client.get(f"/api/projects/{project.pk}/routing-preview/", params)


@pytest.mark.django_db
def test_routing_preview_counts_the_bands_of_the_thresholds_given(as_user, admin, predicted_project):
    r = preview(as_user(admin), predicted_project, auto_accept_threshold=0.9, escalation_threshold=0.6,
                audit_rate=0.25)

    assert r.status_code == 200
    # 0.99 0.97 0.95 0.9 | 0.7 0.6 | 0.5 0.3 0.1
    assert r.json() == {"predicted": 9, "auto_accepted": 4, "audit_expected": 1, "escalated": 3, "normal": 2}


@pytest.mark.django_db
def test_routing_preview_follows_the_thresholds(as_user, admin, predicted_project):
    client = as_user(admin)
    strict = preview(client, predicted_project, auto_accept_threshold=0.99, escalation_threshold=0.95).json()
    assert (strict["auto_accepted"], strict["escalated"], strict["normal"]) == (1, 6, 2)
    none = preview(client, predicted_project, auto_accept_threshold="null", escalation_threshold="").json()
    assert (none["auto_accepted"], none["escalated"], none["normal"]) == (0, 0, 9)
    # Without parameters, the project's own thresholds.
    assert preview(client, predicted_project).json() == preview(
        client, predicted_project, auto_accept_threshold=0.9, escalation_threshold=0.6, audit_rate=0.0).json()


@pytest.mark.django_db
@pytest.mark.parametrize("params, field", [
    ({"auto_accept_threshold": 0.6, "escalation_threshold": 0.9}, "escalation_threshold"),
    ({"escalation_threshold": 0.95}, "escalation_threshold"),  # above the project's 0.9
    ({"auto_accept_threshold": 1.5}, "auto_accept_threshold"),
    ({"auto_accept_threshold": -0.1}, "auto_accept_threshold"),
    ({"escalation_threshold": 2}, "escalation_threshold"),
    ({"audit_rate": 1.01}, "audit_rate"),
    ({"auto_accept_threshold": "high"}, "auto_accept_threshold"),
])
def test_routing_preview_refuses_bad_thresholds(as_user, admin, predicted_project, params, field):
    r = preview(as_user(admin), predicted_project, **params)

    assert r.status_code == 400
    assert field in r.json()


@pytest.mark.django_db
def test_routing_preview_of_another_project_is_not_found(as_user, outsider, predicted_project):
    assert preview(as_user(outsider), predicted_project).status_code == 404


# --- jobs on the real worker ---------------------------------------------------------------------------

@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_train_list_activate_and_prelabel_on_the_worker(worker, as_user, ml_engineer, reviews_project):
    load(reviews_project, synthetic_reviews(60), gold=40)
    client = as_user(ml_engineer)

    r = client.post(f"/api/projects/{reviews_project.pk}/train/")
    assert r.status_code == 202 and r.json()["coalesced"] is False
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded", job.error
    assert job.result["version"] == 1 and job.result["decision"]["outcome"] == "first"
    assert job.progress == job.total == 6  # three folds, the final fit, judging, storing
    # The first version is active at once, and a pre-label run re-scores the queue with it.
    prelabel = wait_for_job(job.result["prelabel_job"])
    assert prelabel.state == "succeeded", prelabel.error
    assert prelabel.result["scored"] == 20 and prelabel.result["model_version"] == 1

    # Nothing new to learn from: the job is skipped, with the reason.
    r = client.post(f"/api/projects/{reviews_project.pk}/train/")
    skipped = wait_for_job(r.json()["job"])
    assert skipped.state == "succeeded"
    assert skipped.result == {"skipped": True, "reason": "No new labels since version 1 (trained on the "
                              "project's 40 human labels); nothing to retrain on."}
    r = client.post(f"/api/projects/{reviews_project.pk}/train/", {"force": True}, format="json")
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded", job.error
    assert job.result["version"] == 2

    models = client.get(f"/api/projects/{reviews_project.pk}/models/").json()
    assert [m["version"] for m in models] == [2, 1]
    for m in models:
        assert m["created"] and m["labels_seen"] == 40 and m["train_size"] + m["holdout_size"] == 40
        assert 0.0 <= m["metrics"]["accuracy"] <= 1.0 and 0.0 <= m["metrics"]["macro_f1"] <= 1.0
    # Trained on the same labels, v2 is exactly as good on the same held-out items: it takes over.
    assert models[0]["decision"]["outcome"] == "activated"
    assert models[0]["decision"]["champion_version"] == 1
    assert models[0]["decision"]["champion"] == models[0]["decision"]["challenger"]
    assert active_versions(reviews_project) == [2]
    wait_for_job(job.result["prelabel_job"])

    r = client.post(f"/api/models/{models[1]['id']}/activate/")
    assert r.status_code == 200 and r.json()["active"] and r.json()["version"] == 1
    assert active_versions(reviews_project) == [1]
    job = wait_for_job(r.json()["prelabel_job"])
    assert job.state == "succeeded", job.error
    assert job.result["scored"] == 20 and job.result["model_version"] == 1
    assert sum(job.result["bands"].values()) == 20
    assert job.progress == job.total == 20
    unlabeled = Item.objects.filter(project=reviews_project).exclude(final_source=FinalSource.GOLD)
    assert not unlabeled.filter(status=ItemStatus.NEW).exists()
    assert Prediction.objects.filter(model_version__version=1, item__project=reviews_project).count() == 20
    assert {i.prediction["model_version"] for i in unlabeled} == {1}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_training_with_too_few_labels_fails_the_job_and_the_active_model_stays(worker, as_user, ml_engineer,
                                                                                  reviews_project):
    load(reviews_project, synthetic_reviews(40), gold=20)
    v1 = train(reviews_project)
    # Most labels turn out wrong and are withdrawn: five remain.
    withdrawn = Item.objects.filter(project=reviews_project, final_source=FinalSource.GOLD).order_by("id")[5:]
    Item.objects.filter(pk__in=[i.pk for i in withdrawn]).update(final_source="", final_value=None,
                                                                 status=ItemStatus.QUEUED)

    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/train/")
    assert r.status_code == 202
    job = wait_for_job(r.json()["job"])

    assert job.state == "failed"
    assert job.error == "Training needs at least 10 labeled items; the project has 5."
    assert as_user(ml_engineer).get(f"/api/jobs/{job.pk}/").json()["error"] == job.error
    assert list(ModelVersion.objects.filter(project=reviews_project).values_list("pk", "active")) == [(v1.pk, True)]
    assert not (Path(settings.MEDIA_ROOT) / artifacts.relative_path(reviews_project.pk, 2)).exists()
