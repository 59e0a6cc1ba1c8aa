"""Redis (the Celery broker) stopped: labeling and review go on, jobs wait as `pending` rows, and once Redis
is back the periodic sweep (`tasks.jobs.requeue_stalled`, beat every minute) sends them and they run.

The test uses the session `worker` on purpose: every worker alive at the time rides the outage out (it
reconnects), and the tests after this one need that worker to work.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Annotation
from models_registry.models import ModelVersion
from tasks import jobs
from tasks.celery_tasks import requeue_stalled_jobs
from tasks.models import Item, ItemStatus, Job, ReviewReason
from tests import servers
from tests.conftest import make_project, wait_for_job
from tests.faults import session_server
from tests.models_registry import load, reviews

# A request while the broker is down takes the time of two refused connections, not the broker's timeouts.
FAST = 3.0


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_people_keep_working_and_jobs_run_once_it_is_back(
        worker, as_user, admin, annotator, annotator2, reviewer, ml_engineer, caplog):
    redis_url = session_server("REDIS_URL")
    project = make_project(admin, [annotator, annotator2, reviewer, ml_engineer], labels=["fresh", "rotten"],
                           gold_rate=0.0, retrain_every=1)
    load(project, reviews(40), gold=30)  # enough human labels to train on, and ten items to label
    disputed = Item.objects.create(project=project, data={"text": "fine, or not"}, needed=2, annotation_count=2,
                                   status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT)
    for who, label in ((annotator, "fresh"), (annotator2, "rotten")):
        Annotation.objects.create(project=project, item=disputed, user=who, value={"label": label}, lead_time=2)
    worker.wait_ready()  # connected before the outage: this is the worker that has to ride it out
    # The first request of a process loads the views: done now, so the timings below are the outage's.
    assert as_user(annotator).get(f"/api/projects/{project.pk}/").status_code == 200

    with servers.down(redis_url):
        # An annotator labels: the consensus is a new human label, and `retrain_every` queues a training.
        r, took = timed(lambda: as_user(annotator).get(f"/api/projects/{project.pk}/next/"))
        assert r.status_code == 200 and took < FAST
        item = r.json()["item"]["id"]
        r, took = timed(lambda: as_user(annotator).post(f"/api/items/{item}/annotations/",
                                                        {"value": {"label": "fresh"}}, format="json"))
        assert r.status_code == 201, r.content
        assert took < FAST
        assert Item.objects.get(pk=item).final_source == "consensus"
        [job] = Job.objects.filter(project=project, kind="train")
        assert (job.state, job.params["trigger"]) == ("pending", "labels")
        assert "was not sent to the workers, the broker is unreachable" in caplog.text

        # A reviewer decides the disputed item.
        r, took = timed(lambda: as_user(reviewer).get(f"/api/projects/{project.pk}/review/next/"))
        assert r.status_code == 200 and r.json()["item"]["id"] == disputed.pk and took < FAST
        r, took = timed(lambda: as_user(reviewer).post(f"/api/items/{disputed.pk}/review/",
                                                       {"value": {"label": "rotten"}}, format="json"))
        assert r.status_code == 200 and took < FAST
        assert Item.objects.get(pk=disputed.pk).final_source == "reviewer"

        # An ML engineer asks for a training: accepted, and it joins the one waiting.
        r, took = timed(lambda: as_user(ml_engineer).post(f"/api/projects/{project.pk}/train/", {}, format="json"))
        assert r.status_code == 202 and took < FAST
        assert r.json() == {"job": job.pk, "coalesced": True}
        assert Job.objects.get(pk=job.pk).state == "pending"

    # Redis is back, empty: the message of the job is nowhere. Beat's sweep (sent here instead of waiting
    # for its minute) finds the job still pending and sends it; the session worker reconnected and runs it.
    requeue_stalled_jobs.delay()
    job = wait_for_job(job.pk, timeout=60)

    assert job.state == "succeeded", job.error
    assert job.attempts == 1
    [mv] = ModelVersion.objects.filter(project=project)
    assert mv.job_id == job.pk and mv.labels_seen == 32
    # And the pre-label the new version queued runs too (and is over before the tables are emptied).
    assert wait_for_job(job.result["prelabel_job"]).state == "succeeded"
    assert worker.proc.poll() is None


@pytest.mark.django_db
def test_the_sweep_resends_pending_jobs_nobody_has_taken_and_leaves_the_others(
        settings, monkeypatch, project, admin, django_capture_on_commit_callbacks):
    settings.HITL_JOB_RESEND_SECONDS = 60
    sent = []
    monkeypatch.setattr(jobs, "send", lambda task_name, job_id: sent.append(job_id) or True)

    def job(created_at=timezone.now() - timedelta(seconds=120), **fields) -> int:
        made = Job.objects.create(kind="import", project=project, created_by=admin, **fields)
        Job.objects.filter(pk=made.pk).update(created_at=created_at)
        return made.pk

    unsent = job()
    just_made = job(created_at=timezone.now())
    waiting = job(heartbeat_at=timezone.now())  # a worker holds its message (a training behind another)
    running = job(state="running", started_at=timezone.now(), heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.requeue_stalled() == 1

    assert sent == [unsent]
    assert dict(Job.objects.filter(pk__in=[unsent, just_made, waiting, running]).values_list("pk", "state")) == {
        unsent: "pending", just_made: "pending", waiting: "pending", running: "running"}
