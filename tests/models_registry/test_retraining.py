"""The retraining loop: triggers, champion against challenger, rollback, damaged files, label issues."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from models_registry import services
from models_registry.backends import BackendError
from models_registry.holdout import is_held_out
from models_registry.models import LabelIssue, ModelVersion
from models_registry.training import train
from models_registry.triggers import request_training
from tasks import items as item_life
from tasks.models import Item, Job, JobState
from tests.conftest import make_project, wait_for_job
from tests.models_registry import digits, load, synthetic_reviews

DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def reviews_project(admin, ml_engineer):
    return make_project(admin, members=[ml_engineer], name="Movie reviews", labels=["fresh", "rotten"])


def active_version(project) -> int | None:
    return ModelVersion.objects.filter(project=project, active=True).values_list("version", flat=True).first()


def agree_on(item: Item, value: dict) -> None:
    """The item's annotators agreed on `value` (its consensus is final)."""
    item_life.settle(item, agreed=True, value=value, escalated=False, reason="test")


def label_more(project, n: int, flip: bool = False) -> list[Item]:
    """Give `n` unlabeled items a consensus final value: the true one, or with `flip` the wrong one
    (on items that training sees; held-out ones stay right, so the harm shows in held-out accuracy)."""
    items = list(Item.objects.filter(project=project, final_source="").order_by("id")[:n])
    for item in items:
        truth = "fresh" if int(item.external_id.split("-")[1]) % 2 == 0 else "rotten"
        wrong = {"fresh": "rotten", "rotten": "fresh"}[truth]
        agree_on(item, {"label": wrong if flip and not is_held_out(item.pk) else truth})
    return items


# --- the held-out split ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_held_out_items_stay_held_out_and_are_never_trained_on(reviews_project):
    load(reviews_project, synthetic_reviews(80), gold=40)
    v1 = train(reviews_project)
    label_more(reviews_project, 30)
    v2 = train(reviews_project)

    held = [pk for pk in Item.objects.filter(project=reviews_project, final_source__in=["gold", "consensus"])
            .values_list("pk", flat=True) if is_held_out(pk)]
    assert v1.holdout_size < v2.holdout_size == len(held)
    assert v2.train_size == 70 - len(held)
    assert v2.metrics["test_size"] == len(held)
    assert set(v2.label_counts) == {"fresh", "rotten"}
    assert sum(v2.label_counts.values()) == v2.train_size


# --- champion and challenger --------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_better_challenger_takes_over_and_its_metrics_are_compared_on_the_same_items(admin):
    project = make_project(admin, name="Digits", labels=DIGITS)
    truth = load(project, digits(400), gold=40)
    v1 = train(project)
    for item in Item.objects.filter(project=project, final_source="").order_by("id")[:250]:
        agree_on(item, {"label": truth[item.pk]})

    v2 = train(project, trigger="schedule")

    assert v2.active and not ModelVersion.objects.get(pk=v1.pk).active
    assert v2.trigger == "schedule"
    d = v2.decision
    assert d["outcome"] == "activated" and d["champion_version"] == 1 and d["metric"] == "accuracy"
    assert d["challenger"] == v2.metrics["accuracy"] > d["champion"]
    assert "not worse" in d["reason"]
    assert Job.objects.filter(project=project, kind="prelabel", state="pending").count() == 1
    assert AuditEvent.objects.filter(project_id=project.pk, action="model.activated",
                                     payload__version=2, payload__reason="activated").exists()


@pytest.mark.django_db
def test_a_worse_challenger_waits_for_an_ml_engineer(reviews_project, ml_engineer):
    load(reviews_project, synthetic_reviews(120), gold=40)
    reviews_project.promotion_margin = 0.0
    reviews_project.save()
    v1 = train(reviews_project)
    label_more(reviews_project, 60, flip=True)  # a careless batch: every new label is wrong

    v2 = train(reviews_project)

    assert active_version(reviews_project) == 1 and not v2.active
    assert v2.decision["outcome"] == "waiting"
    assert v2.decision["challenger"] < v2.decision["champion"]
    assert "an ML engineer decides" in v2.decision["reason"]
    # The engineer may still choose it: one action, and the queue is re-scored.
    job = services.activate(v2, user=ml_engineer)
    assert active_version(reviews_project) == 2 and job.kind == "prelabel"
    # ...and go back: rollback brings the one that served before.
    back, _ = services.rollback(reviews_project, user=ml_engineer)
    assert back.pk == v1.pk and active_version(reviews_project) == 1


@pytest.mark.django_db
def test_the_margin_lets_a_slightly_worse_challenger_through(reviews_project):
    load(reviews_project, synthetic_reviews(120), gold=40)
    train(reviews_project)
    label_more(reviews_project, 60, flip=True)
    reviews_project.promotion_margin = 1.0
    reviews_project.save()

    v2 = train(reviews_project)

    assert v2.active and v2.decision["outcome"] == "activated" and v2.decision["margin"] == 1.0


@pytest.mark.django_db
def test_rollback_over_the_api_with_nothing_to_go_back_to_is_a_clear_error(as_user, ml_engineer, reviews_project):
    client = as_user(ml_engineer)
    r = client.post(f"/api/projects/{reviews_project.pk}/rollback/")
    assert r.status_code == 400 and r.json()["detail"] == "No earlier active version to roll back to."

    load(reviews_project, synthetic_reviews(60), gold=40)
    v1 = train(reviews_project)
    v2 = train(reviews_project, force=True)
    assert active_version(reviews_project) == 2

    r = client.post(f"/api/projects/{reviews_project.pk}/rollback/")

    assert r.status_code == 200
    assert r.json()["version"] == 1 and r.json()["active"] and r.json()["prelabel_job"]
    assert active_version(reviews_project) == 1
    r = client.post(f"/api/projects/{reviews_project.pk}/rollback/")  # and forth again
    assert r.json()["version"] == 2 and v2.pk == r.json()["id"] and v1.pk != r.json()["id"]


# --- damaged model files -------------------------------------------------------------------------------

def damage(mv: ModelVersion) -> None:
    path = Path(settings.MEDIA_ROOT) / mv.artifact.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.django_db
def test_a_corrupt_version_is_detected_reported_and_never_activated(as_user, ml_engineer, reviews_project):
    load(reviews_project, synthetic_reviews(60), gold=40)
    train(reviews_project)
    v2 = train(reviews_project, force=True)
    v1 = ModelVersion.objects.get(project=reviews_project, version=1)
    damage(v1)

    r = as_user(ml_engineer).post(f"/api/models/{v1.pk}/activate/")

    assert r.status_code == 400
    assert "Version 1 cannot be activated" in r.json()["detail"] and "corrupt" in r.json()["detail"]
    v1.refresh_from_db()
    assert v1.corrupt and "checksum" in v1.error
    assert active_version(reviews_project) == v2.version
    assert AuditEvent.objects.filter(project_id=reviews_project.pk, action="model.corrupt", payload__version=1).exists()
    listed = as_user(ml_engineer).get(f"/api/projects/{reviews_project.pk}/models/").json()
    assert [(m["version"], m["corrupt"]) for m in listed] == [(2, False), (1, True)]
    with pytest.raises(BackendError, match="No earlier active version"):
        services.rollback(reviews_project)  # the corrupt one is no rollback target


@pytest.mark.django_db
def test_a_challenger_replaces_a_champion_whose_file_is_damaged(reviews_project):
    load(reviews_project, synthetic_reviews(60), gold=40)
    v1 = train(reviews_project)
    damage(v1)

    v2 = train(reviews_project, force=True)

    assert v2.active and v2.decision["outcome"] == "activated"
    assert "cannot be used" in v2.decision["reason"]
    assert ModelVersion.objects.get(pk=v1.pk).corrupt


@pytest.mark.django_db
def test_pre_labeling_with_a_damaged_active_model_fails_and_changes_nothing(reviews_project):
    from models_registry.prelabel import prelabel

    load(reviews_project, synthetic_reviews(60), gold=40)
    v1 = train(reviews_project)
    before = list(Item.objects.filter(project=reviews_project).values_list("id", "status", "prediction"))
    damage(v1)

    with pytest.raises(BackendError, match="corrupt"):
        prelabel(reviews_project)

    assert list(Item.objects.filter(project=reviews_project).values_list("id", "status", "prediction")) == before


# --- no new labels ---------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_retrain_without_new_labels_is_skipped_with_a_reason(reviews_project):
    load(reviews_project, synthetic_reviews(60), gold=40)
    train(reviews_project)

    assert train(reviews_project) is None

    assert ModelVersion.objects.filter(project=reviews_project).count() == 1
    event = AuditEvent.objects.get(project_id=reviews_project.pk, action="model.training_skipped")
    assert event.payload["reason"].startswith("No new labels since version 1")
    label_more(reviews_project, 1)
    assert train(reviews_project).version == 2  # one new label is something new


# --- triggers ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_triggers_arriving_while_a_training_waits_join_it(reviews_project, ml_engineer):
    first = request_training(reviews_project, trigger="manual", user=ml_engineer)
    second = request_training(reviews_project, trigger="schedule")
    third = request_training(reviews_project, trigger="labels", force=True)

    assert not first.coalesced and second.coalesced and third.coalesced
    assert first.job.pk == second.job.pk == third.job.pk
    job = Job.objects.get(pk=first.job.pk)
    assert [t["trigger"] for t in job.params["triggers"]] == ["manual", "schedule", "labels"]
    assert job.params["force"] is True
    # Once it runs, the next trigger queues one more training (for the labels that came meanwhile).
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING)
    fourth = request_training(reviews_project, trigger="manual")
    assert not fourth.coalesced and fourth.job.pk != job.pk
    assert Job.objects.filter(project=reviews_project, kind="train").count() == 2


@pytest.mark.django_db
def test_retrain_every_starts_a_training_after_that_many_human_labels(reviews_project,
                                                                     django_capture_on_commit_callbacks):
    load(reviews_project, synthetic_reviews(80), gold=30)
    train(reviews_project)
    reviews_project.retrain_every = 5
    reviews_project.save()

    with django_capture_on_commit_callbacks(execute=True):
        label_more(reviews_project, 4)
    assert not Job.objects.filter(project=reviews_project, kind="train").exists()
    with django_capture_on_commit_callbacks(execute=True):
        label_more(reviews_project, 1)
    job = Job.objects.get(project=reviews_project, kind="train")
    assert job.params["trigger"] == "labels" and job.state == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        label_more(reviews_project, 10)  # while it waits, no second one
    assert Job.objects.filter(project=reviews_project, kind="train").count() == 1


@pytest.mark.django_db
def test_an_admin_sets_a_retrain_schedule_that_beat_keeps_in_the_database(as_user, admin, reviews_project):
    client = as_user(admin)

    r = client.patch(f"/api/projects/{reviews_project.pk}/", {"retrain_schedule": "every 6 hours"}, format="json")
    assert r.status_code == 200 and r.json()["retrain_schedule"] == "every 6 hours"
    task = PeriodicTask.objects.get(name=f"retrain project {reviews_project.pk}")
    assert task.task == "models_registry.scheduled_retrain" and json.loads(task.args) == [reviews_project.pk]
    assert (task.interval.every, task.interval.period, task.crontab) == (6, "hours", None)

    r = client.patch(f"/api/projects/{reviews_project.pk}/", {"retrain_schedule": "30 2 * * 1-5"}, format="json")
    task.refresh_from_db()
    assert task.interval is None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "2", "1-5")

    r = client.patch(f"/api/projects/{reviews_project.pk}/", {"retrain_schedule": ""}, format="json")
    assert r.status_code == 200
    assert not PeriodicTask.objects.filter(name=f"retrain project {reviews_project.pk}").exists()
    assert AuditEvent.objects.filter(project_id=reviews_project.pk, action="project.updated",
                                     payload__changed__retrain_schedule__to="").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("spec, message", [
    ("hourly", 'Write "every N minutes"'),
    ("every 0 minutes", "at least 1"),
    ("every 5 fortnights", 'Write "every N minutes"'),
    ("61 * * * *", "Not a valid cron line"),
])
def test_a_bad_schedule_is_refused_and_nothing_changes(as_user, admin, reviews_project, spec, message):
    r = as_user(admin).patch(f"/api/projects/{reviews_project.pk}/", {"retrain_schedule": spec}, format="json")

    assert r.status_code == 400
    assert message in r.json()["retrain_schedule"][0]
    assert not PeriodicTask.objects.filter(name__startswith="retrain project").exists()


@pytest.mark.django_db
def test_only_admins_set_the_schedule_and_margin(as_user, ml_engineer, reviews_project):
    r = as_user(ml_engineer).patch(f"/api/projects/{reviews_project.pk}/", {"promotion_margin": 0.5},
                                   format="json")
    assert r.status_code == 403


# --- likely label errors ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_likely_label_errors_are_the_items_humans_labeled_wrong(as_user, ml_engineer, annotator, reviews_project):
    load(reviews_project, synthetic_reviews(200), gold=0)
    right = label_more(reviews_project, 150)
    wrong = [i for i in label_more(reviews_project, 10, flip=True) if not is_held_out(i.pk)]

    mv = train(reviews_project)

    issues = list(LabelIssue.objects.filter(model_version=mv).order_by("rank"))
    found = {i.item_id for i in issues}
    assert {w.pk for w in wrong} <= found
    assert len(found & {r.pk for r in right}) <= 2
    top = issues[0]
    assert top.given["label"] != top.suggested["label"]
    assert top.given_probability < 0.5 < top.suggested_confidence

    r = as_user(ml_engineer).get(f"/api/models/{mv.pk}/label-issues/")
    assert r.status_code == 200
    rows = r.json()
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    assert {"item", "external_id", "data", "given", "suggested", "given_probability",
            "suggested_confidence"} <= set(rows[0])
    assert as_user(annotator).get(f"/api/models/{mv.pk}/label-issues/").status_code in (403, 404)


# --- jobs list ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_project_jobs_list_filters_by_kind(as_user, ml_engineer, reviews_project):
    request_training(reviews_project, trigger="manual")
    Job.objects.create(project=reviews_project, kind="import", state="succeeded")

    r = as_user(ml_engineer).get(f"/api/projects/{reviews_project.pk}/jobs/?kind=train&kind=prelabel")
    assert r.status_code == 200
    assert [(j["kind"], j["state"], j["params"]["trigger"]) for j in r.json()] == [("train", "pending", "manual")]
    assert len(as_user(ml_engineer).get(f"/api/projects/{reviews_project.pk}/jobs/").json()) == 2
    bad = as_user(ml_engineer).get(f"/api/projects/{reviews_project.pk}/jobs/?kind=nap")
    assert bad.status_code == 400 and "kind" in bad.json()


# --- on the real worker --------------------------------------------------------------------------------------

@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_failing_training_leaves_the_active_model_and_shows_its_error(worker, as_user, ml_engineer,
                                                                        reviews_project):
    load(reviews_project, synthetic_reviews(40), gold=20)
    train(reviews_project)
    Item.objects.filter(project=reviews_project, gold__label="rotten").update(
        final_value={"label": "fresh"})  # every label now says "fresh": nothing to tell apart

    r = as_user(ml_engineer).post(f"/api/projects/{reviews_project.pk}/train/", {"force": True}, format="json")
    job = wait_for_job(r.json()["job"])

    assert job.state == "failed" and "at least two classes" in job.error
    assert active_version(reviews_project) == 1
    listed = as_user(ml_engineer).get(f"/api/projects/{reviews_project.pk}/jobs/?kind=train").json()
    assert listed[0]["error"] == job.error
