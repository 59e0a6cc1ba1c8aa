"""`retrain_every` on a real worker: labels that arrive while a training waits or runs are counted when
it ends, and start the next one."""
from __future__ import annotations

import time

import pytest

from models_registry.models import ModelVersion
from tasks.models import Item, Job
from tests.models_registry import synthetic_reviews
from tests.models_registry.test_retrain_loop_e2e import label

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def train_jobs(pid: int) -> list[Job]:
    return list(Job.objects.filter(project_id=pid, kind="train").order_by("id"))


def wait_until_trainings_settle(pid: int, timeout: float = 120.0) -> list[Job]:
    """Every training of the project finished, and none followed for a second."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        jobs = train_jobs(pid)
        if jobs and all(j.state in ("succeeded", "failed") for j in jobs):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:
                return jobs
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError(f"trainings still going after {timeout}s: {[(j.pk, j.state) for j in train_jobs(pid)]}")


def test_sixty_quick_labels_with_retrain_every_thirty_give_two_versions(worker, admin, annotator, as_user):
    admin_client, ann = as_user(admin), as_user(annotator)
    r = admin_client.post("/api/projects/", {
        "name": "Reviews", "task_type": "classification", "labels": ["fresh", "rotten"], "overlap": 1,
        "retrain_every": 30, "gold_rate": 0.0, "audit_rate": 0.0, "strategy": "sequential"}, format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert admin_client.post(f"/api/projects/{pid}/members/", {"user": annotator.pk}, format="json").status_code == 201
    records = synthetic_reviews(100)
    r = admin_client.post(f"/api/projects/{pid}/import/",
                          [{"data": x["data"], "external_id": x["external_id"]} for x in records], format="json")
    assert r.status_code == 201, r.content
    by_external = {x["external_id"]: x["meta_label"] for x in records}
    truth = {pk: by_external[ext] for pk, ext in Item.objects.filter(project_id=pid).values_list("id", "external_id")}

    for _ in range(30):
        label(ann, pid, truth)
    [first] = train_jobs(pid)
    assert first.params["trigger"] == "labels"
    for _ in range(30):  # as fast as the API answers: the first training is waiting or running meanwhile
        label(ann, pid, truth)

    jobs = wait_until_trainings_settle(pid)

    assert [j.state for j in jobs] == ["succeeded", "succeeded"], [j.error for j in jobs]
    assert [j.params["trigger"] for j in jobs] == ["labels", "labels"]
    versions = list(ModelVersion.objects.filter(project_id=pid).order_by("version")
                    .values_list("version", "labels_seen"))
    assert [v for v, _ in versions] == [1, 2]
    assert versions[1][1] == 60  # the second version learned from every label
