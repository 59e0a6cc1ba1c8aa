"""A Celery worker killed (SIGKILL) in the middle of pre-labeling or training: nothing of the half-done
run is visible, and the message, acknowledged only at the end (acks_late), goes to the next worker, which
runs the job once, in full. The visibility timeout is 5 s in tests (tests/servers.py), an hour in production.
"""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from models_registry.models import LabelIssue, ModelVersion, Prediction
from models_registry.training import train
from tasks.models import Item, ItemStatus, Job
from tests.conftest import make_project, wait_for_job, wait_until_running
from tests.models_registry import load, reviews

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# Three batches of pre-labeling (models_registry.prelabel.BATCH is 10,000): the worker dies after the first
# is written, while two writing connections have the others (a last batch of a few items would be written
# alongside the first one, and the progress go from 0 to the total at once).
TO_PRELABEL = 25_000
# Enough labels for a training of a few seconds: the worker dies after its first cross-validation fold.
TO_TRAIN_ON = 1_500


@pytest.fixture
def reviews_project(admin, ml_engineer):
    return make_project(admin, members=[ml_engineer], name="Movie reviews", labels=["fresh", "rotten"])


def unlabeled(project, n: int) -> None:
    texts = [r["data"]["text"] for r in reviews(2000)]
    Item.objects.bulk_create([Item(project=project, data={"text": f"{texts[i % len(texts)]} ({i})"}, needed=1)
                              for i in range(n)], batch_size=5000)


def test_a_worker_killed_mid_prelabel_leaves_nothing_and_the_rerun_scores_every_item_once(
        own_worker, as_user, ml_engineer, reviews_project):
    load(reviews_project, reviews(300), gold=300)
    mv = train(reviews_project)  # the first version: active, and it queues a pre-label
    unlabeled(reviews_project, TO_PRELABEL)
    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/prelabel/")
    assert r.status_code == 202
    job_id = r.json()["job"]

    own_worker.start()
    running = wait_until_running(job_id)
    own_worker.kill()

    assert Job.objects.get(pk=job_id).state == "running"
    assert 0 < running.progress < TO_PRELABEL == running.total
    # Pre-labeling writes in one transaction: the items show nothing of the run that died.
    targets = Item.objects.filter(project=reviews_project, final_source="")
    assert not Prediction.objects.filter(item__project=reviews_project).exists()
    assert not targets.filter(prediction__isnull=False).exists()
    assert set(targets.values_list("status", flat=True)) == {ItemStatus.NEW}
    assert not AuditEvent.objects.filter(project_id=reviews_project.pk, action="items.prelabeled").exists()

    own_worker.start()  # the unacknowledged message comes back to the queue after the visibility timeout
    job = wait_for_job(job_id)

    assert job.state == "succeeded", job.error
    assert job.attempts == 2
    assert job.result["scored"] == TO_PRELABEL
    predictions = Prediction.objects.filter(item__project=reviews_project)
    assert predictions.count() == predictions.values("item").distinct().count() == TO_PRELABEL
    assert set(predictions.values_list("model_version", flat=True)) == {mv.pk}
    assert not targets.filter(prediction__isnull=True).exists()
    assert not targets.filter(status=ItemStatus.NEW).exists()
    assert AuditEvent.objects.filter(project_id=reviews_project.pk, action="items.prelabeled").count() == 1


def test_a_worker_killed_mid_training_stores_no_version_and_the_rerun_stores_exactly_one(
        own_worker, as_user, ml_engineer, reviews_project):
    load(reviews_project, reviews(TO_TRAIN_ON), gold=TO_TRAIN_ON)
    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/train/", {}, format="json")
    assert r.status_code == 202
    job_id = r.json()["job"]

    own_worker.start()
    running = wait_until_running(job_id)
    own_worker.kill()

    assert Job.objects.get(pk=job_id).state == "running"
    assert 0 < running.progress < running.total
    # A version is stored, with its label issues, in the transaction that finishes the job: none yet.
    assert not ModelVersion.objects.filter(project=reviews_project).exists()
    assert not LabelIssue.objects.filter(model_version__project=reviews_project).exists()
    assert not AuditEvent.objects.filter(project_id=reviews_project.pk, action="model.trained").exists()

    # The next worker gets the message; the training lock the dead worker held went with its connection.
    own_worker.start()
    job = wait_for_job(job_id)

    assert job.state == "succeeded", job.error
    assert job.attempts == 2
    [mv] = ModelVersion.objects.filter(project=reviews_project)
    assert (mv.version, mv.job_id, mv.active) == (1, job_id, True)
    assert job.result["version"] == 1
    assert mv.train_size + mv.holdout_size == TO_TRAIN_ON
    assert AuditEvent.objects.filter(project_id=reviews_project.pk, action="model.trained").count() == 1
    # The new version queued a pre-label (on this test's queue): let it end before the tables are emptied.
    assert wait_for_job(job.result["prelabel_job"]).state == "succeeded"
