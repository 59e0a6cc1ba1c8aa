"""Every endpoint of the API contract through the SDK, against the live server."""
from __future__ import annotations

import pytest
from hitl_sdk import (
    AuthenticationError,
    Client,
    Conflict,
    HitlError,
    JobFailed,
    NotFound,
    PermissionDenied,
    ValidationError,
)

from tasks.models import Item, Membership
from tests.conftest import PASSWORD
from tests.sdk.helpers import reviews


def test_login_with_a_password_or_a_token_and_the_servers_refusals(live_server, admin, connect):
    client = connect(admin)
    assert client.token and client.me()["username"] == "alice"
    with Client(live_server.url + "/api/", token=client.token) as by_token:
        assert by_token.me() == {"id": admin.id, "username": "alice", "role": "admin"}
    with pytest.raises(AuthenticationError) as caught:
        Client(live_server.url, username="alice", password="wrong")
    assert caught.value.status_code == 400
    assert "Unable to log in" in str(caught.value)
    with Client(live_server.url, token="not-a-token") as bad, pytest.raises(AuthenticationError) as caught:
        bad.projects()
    assert caught.value.status_code == 401 and caught.value.detail
    with Client(live_server.url, token="") as anonymous, pytest.raises(AuthenticationError):
        anonymous.projects()
    client.logout()
    with Client(live_server.url, token="x") as again:
        again.set_token(client.token or "revoked")
        with pytest.raises(AuthenticationError):
            again.me()


def test_projects_members_and_users(connect, admin, annotator, outsider):
    client = connect(admin)
    project = client.create_project("Tweets", "multi_label", ["joy", "anger"], overlap=2, strategy="random")
    assert (project.name, project.task_type, project.labels) == ("Tweets", "multi_label", ["joy", "anger"])
    assert project.settings["overlap"] == 2 and project.settings["strategy"] == "random"
    assert [p.id for p in client.projects()] == [project.id]
    assert client.project("Tweets").id == project.id
    assert client.project(str(project.id)).name == "Tweets"
    project.update(instructions="Tag every emotion.", auto_accept_threshold=0.9)
    assert client.project(project.id).settings["instructions"] == "Tag every emotion."
    assert project.refresh().settings["auto_accept_threshold"] == 0.9

    with pytest.raises(ValidationError) as caught:
        client.create_project("Bad", "poetry", [])
    assert caught.value.status_code == 400 and "task_type" in str(caught.value)
    assert "task_type" in caught.value.body
    with pytest.raises(ValidationError) as caught:
        project.update(overlap=0)
    assert "overlap" in str(caught.value)

    # Users (admin only).
    created = client.users.create("carol", PASSWORD, "reviewer")
    assert created["username"] == "carol" and created["role"] == "reviewer"
    assert {u["username"] for u in client.users.list()} >= {"alice", "ann", "otto", "carol"}
    assert client.users.get("carol")["id"] == created["id"]
    with pytest.raises(ValidationError) as caught:
        client.users.create("carol", PASSWORD, "reviewer")
    assert "username" in str(caught.value)

    # Members: only members see the project.
    carol = connect(type("U", (), {"username": "carol"}))
    with pytest.raises(NotFound) as caught:
        carol.project(project.id)
    assert caught.value.status_code == 404
    assert carol.projects() == []
    project.add_member(created)
    project.add_member(annotator.id)
    assert {m["username"] for m in project.members()} >= {"carol", "ann"}
    assert carol.project(project.id).name == "Tweets"
    project.remove_member(created["id"])
    assert not Membership.objects.filter(project_id=project.id, user_id=created["id"]).exists()
    with pytest.raises(NotFound):
        project.remove_member(created["id"])

    # Deactivating ends the account's tokens.
    assert client.users.deactivate(created["id"])["is_active"] is False
    with pytest.raises(AuthenticationError):
        carol.me()
    assert client.users.update(created["id"], is_active=True, password=PASSWORD + "!")["is_active"] is True

    # Roles: an annotator may not create projects or list users.
    ann = connect(annotator)
    with pytest.raises(PermissionDenied) as caught:
        ann.create_project("Mine", "classification", ["a"])
    assert caught.value.status_code == 403 and caught.value.detail
    with pytest.raises(PermissionDenied):
        ann.users.list()
    with pytest.raises(NotFound):
        connect(outsider).project(project.id)


def test_items_labeling_skip_and_a_second_submission(connect, admin, annotator, annotator2, project):
    connect(admin).project(project.id).import_records(reviews(5))
    ann = connect(annotator).project(project.id)

    items = list(ann.items(page_size=2))
    assert len(items) == 5 and {i["status"] for i in items} == {"new"}
    assert [i["id"] for i in ann.items(status="new", page_size=2)] == [i["id"] for i in items]
    assert list(ann.items(status="done")) == []

    leased = ann.next()
    assert leased is not None and set(leased) >= {"item", "prediction"}
    item_id = leased["item"]["id"]
    with pytest.raises(ValidationError) as caught:
        ann.annotate(item_id, {"label": "maybe"})
    assert caught.value.status_code == 400
    annotation = ann.annotate(item_id, {"label": "pos"}, lead_time=3.5)
    assert annotation["value"] == {"label": "pos"}
    with pytest.raises(Conflict) as caught:
        ann.annotate(item_id, {"label": "neg"})
    assert caught.value.status_code == 409 and caught.value.detail in str(caught.value)

    detail = ann.item(item_id)
    assert detail["id"] == item_id and detail["data"]["text"].startswith("a ")
    assert detail["status"] == "done" and detail["final"]["value"] == {"label": "pos"}
    assert detail["final"]["source"] == "consensus"

    skipped = ann.next(exclude=[item_id])
    assert skipped is not None
    assert ann.skip(skipped["item"]["id"])["skipped"] is True
    seen = {item_id, skipped["item"]["id"]}
    while (leased := ann.next()) is not None:
        assert leased["item"]["id"] not in seen
        seen.add(leased["item"]["id"])
        ann.annotate(leased["item"]["id"], {"label": "neg"})
    assert len(seen) == 5
    assert ann.next() is None
    assert len(list(ann.items(status="done"))) == 4

    # A second annotator gets the skipped item.
    bob = connect(annotator2).project(project.id)
    leased = bob.next()
    assert leased is not None and leased["item"]["id"] == skipped["item"]["id"]
    bob.release(leased["item"]["id"])
    with pytest.raises(NotFound):
        bob.item(10**9)


def test_review_of_a_disagreement(connect, admin, annotator, annotator2, reviewer, project):
    admin_project = connect(admin).project(project.id)
    admin_project.update(overlap=2, gold_rate=0.0)
    admin_project.import_records(reviews(1))
    item_id = Item.objects.get(project=project).pk
    for user, label in ((annotator, "pos"), (annotator2, "neg")):
        labeler = connect(user).project(project.id)
        leased = labeler.next()
        assert leased is not None and leased["item"]["id"] == item_id
        labeler.annotate(item_id, {"label": label})

    with pytest.raises(PermissionDenied):
        connect(annotator).project(project.id).review_next()
    rita = connect(reviewer).project(project.id)
    task = rita.review_next()
    assert task is not None
    assert task["item"]["id"] == item_id and task["reason"] == "disagreement"
    assert sorted(a["value"]["label"] for a in task["annotations"]) == ["neg", "pos"]
    decided = rita.review(item_id, {"label": "neg"}, note="Sarcasm.")
    assert decided["item"]["status"] == "done"
    final = rita.item(item_id)["final"]
    assert final["value"] == {"label": "neg"} and final["source"] == "reviewer"
    assert rita.review_next() is None
    [record] = admin_project.export()
    assert record["final"]["source"] == "reviewer" and record["reviews"][0]["note"] == "Sarcasm."


@pytest.mark.worker
def test_train_models_activate_prelabel_rollback_and_stats(connect, admin, ml_engineer, annotator, project, worker):
    project.gold_rate = 0.0
    project.save(update_fields=["gold_rate"])
    admin_project = connect(admin).project(project.id)
    mel = connect(ml_engineer).project(project.id)

    # Too few labels: the job fails, and the exception carries the job's error.
    admin_project.import_records(reviews(4, gold=4, prefix="few"))
    with pytest.raises(JobFailed) as caught:
        mel.train(progress=False, timeout=120)
    assert caught.value.job["state"] == "failed" and caught.value.detail
    assert caught.value.detail in str(caught.value)
    assert mel.models() == []

    admin_project.import_records(reviews(60, gold=40))
    with pytest.raises(PermissionDenied):
        connect(annotator).project(project.id).train(wait=False)
    job = mel.train(progress=True, timeout=180)
    assert job.succeeded and job.kind == "train"
    [model] = mel.models()
    assert model["version"] == 1 and model["train_size"] > 0
    assert {"accuracy", "macro_f1"} <= set(model["metrics"])
    assert connect(ml_engineer).model(model["id"])["version"] == 1

    activated = mel.activate(model["id"], wait=True)
    assert activated["active"] is True and activated["id"] == model["id"]
    assert mel.active_model()["id"] == model["id"]

    job = mel.prelabel(progress=True, timeout=180)
    assert job.succeeded and job.total is not None and job.progress == job.total > 0
    assert job.refresh().state == "succeeded"
    assert any(j.id == job.id for j in mel.jobs())
    unlabeled = [r for r in admin_project.export() if r["final"] is None or r["final"]["source"] != "gold"]
    assert unlabeled and all(r["prediction"] and r["prediction"]["model_version"] == 1 for r in unlabeled)
    assert all(r["prediction_label"] in ("pos", "neg") for r in admin_project.to_records() if r["final_source"] is None)

    # A second version, then back to the first.
    second = mel.train(force=True, progress=False, timeout=180)
    assert second.succeeded
    newest = mel.models()[0]
    assert newest["version"] == 2
    mel.activate(newest["id"])
    assert mel.active_model()["version"] == 2
    back = mel.rollback()
    assert back["version"] == 1 and mel.active_model()["version"] == 1

    stats = mel.stats()
    assert "agreement" in stats and stats
    with pytest.raises(HitlError):
        connect(ml_engineer).job(10**9)
