"""Items: the list, one item with its annotations by role, and `next` (the labeling queue)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Annotation, ReviewDecision
from tasks.models import Assignment, FinalSource, Item, ItemStatus, Job, LeaseState
from tests.conftest import make_items, make_project, make_user

pytestmark = pytest.mark.django_db


def next_of(client, project, **params):
    return client.get(f"/api/projects/{project.pk}/next/", params)


def submit(client, item, value=None, **extra):
    body = {"value": value if value is not None else {"label": "pos"}, **extra}
    return client.post(f"/api/items/{item.pk}/annotations/", body, format="json")


def leases(item) -> list[tuple[str, str]]:
    return list(Assignment.objects.filter(item=item).order_by("id").values_list("user__username", "state"))


# --- list ---------------------------------------------------------------------------------------

def test_member_lists_items_in_import_order(as_user, project, annotator):
    items = make_items(project, 3)

    r = as_user(annotator).get(f"/api/projects/{project.pk}/items/")

    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3
    assert [i["id"] for i in body["results"]] == [i.pk for i in items]
    first = body["results"][0]
    assert {k: first[k] for k in ("external_id", "data", "status", "prediction", "final")} == {
        "external_id": None, "data": {"text": "text 0"}, "status": "new", "prediction": None, "final": None}


def test_items_are_paginated(as_user, project, admin):
    items = make_items(project, 5)

    page1 = as_user(admin).get(f"/api/projects/{project.pk}/items/?page_size=2").json()
    page3 = as_user(admin).get(f"/api/projects/{project.pk}/items/?page_size=2&page=3").json()

    assert page1["count"] == 5
    assert [i["id"] for i in page1["results"]] == [items[0].pk, items[1].pk]
    assert page1["next"] and page1["previous"] is None
    assert [i["id"] for i in page3["results"]] == [items[4].pk]
    assert page3["next"] is None


def test_page_past_the_end_is_404(as_user, project, admin):
    make_items(project, 1)

    assert as_user(admin).get(f"/api/projects/{project.pk}/items/?page=5").status_code == 404


def test_items_are_filtered_by_status(as_user, project, admin):
    make_items(project, 2)
    done = make_items(project, 1, status=ItemStatus.DONE, final_value={"label": "pos"},
                      final_source=FinalSource.CONSENSUS)

    r = as_user(admin).get(f"/api/projects/{project.pk}/items/?status=done")

    assert r.status_code == 200
    assert [i["id"] for i in r.json()["results"]] == [done[0].pk]
    assert r.json()["results"][0]["final"]["value"] == {"label": "pos"}
    assert r.json()["results"][0]["final"]["source"] == "consensus"


def test_unknown_status_filter_is_400(as_user, project, admin):
    r = as_user(admin).get(f"/api/projects/{project.pk}/items/?status=finished")

    assert r.status_code == 400
    assert "status" in r.json()


def test_items_of_other_projects_are_not_listed(as_user, project, admin):
    other = make_project(admin, name="Other")
    make_items(other, 2)
    mine = make_items(project, 1)

    r = as_user(admin).get(f"/api/projects/{project.pk}/items/")

    assert [i["id"] for i in r.json()["results"]] == [mine[0].pk]


def test_outsider_cannot_list_items(as_user, project, outsider):
    make_items(project, 1)

    assert as_user(outsider).get(f"/api/projects/{project.pk}/items/").status_code == 404


def test_items_of_unknown_project_is_404(as_user, admin):
    assert as_user(admin).get("/api/projects/999999/items/").status_code == 404


# --- detail -------------------------------------------------------------------------------------

@pytest.fixture
def annotated(project, annotator, annotator2, reviewer):
    """An item annotated by both annotators and decided by the reviewer."""
    [item] = make_items(project, 1, external_id="e-1")
    for user, label in ((annotator, "pos"), (annotator2, "neg")):
        Annotation.objects.create(project=project, item=item, user=user, value={"label": label}, lead_time=3.5)
    ReviewDecision.objects.create(project=project, item=item, reviewer=reviewer, value={"label": "pos"},
                                  reason="disagreement")
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.DONE, final_value={"label": "pos"},
                                           final_source=FinalSource.REVIEWER, final_by=reviewer,
                                           final_at=timezone.now(), annotation_count=2)
    return item


def test_annotator_sees_only_their_own_annotations(as_user, annotated, annotator):
    r = as_user(annotator).get(f"/api/items/{annotated.pk}/")

    assert r.status_code == 200
    assert [(a["user"], a["value"]) for a in r.json()["annotations"]] == [("ann", {"label": "pos"})]


def test_annotator_lists_only_their_own_annotations(as_user, annotated, annotator2):
    r = as_user(annotator2).get(f"/api/items/{annotated.pk}/annotations/")

    assert r.status_code == 200
    assert [(a["user"], a["value"]) for a in r.json()] == [("bob", {"label": "neg"})]


@pytest.mark.parametrize("persona", ["reviewer", "ml_engineer", "admin"])
def test_reviewers_ml_engineers_and_admins_see_all_annotations(as_user, request, annotated, persona):
    client = as_user(request.getfixturevalue(persona))

    detail = client.get(f"/api/items/{annotated.pk}/")
    listed = client.get(f"/api/items/{annotated.pk}/annotations/")

    assert detail.status_code == 200
    assert [a["user"] for a in detail.json()["annotations"]] == ["ann", "bob"]
    assert [a["user"] for a in listed.json()] == ["ann", "bob"]


def test_item_detail_shows_data_status_final_and_provenance(as_user, annotated, admin, reviewer):
    body = as_user(admin).get(f"/api/items/{annotated.pk}/").json()

    assert body["id"] == annotated.pk
    assert body["external_id"] == "e-1"
    assert body["data"] == {"text": "text 0"}
    assert body["status"] == "done"
    assert body["final"]["value"] == {"label": "pos"}
    assert body["final"]["source"] == "reviewer"
    assert body["final"]["by"] == reviewer.pk
    assert body["final"]["at"]
    assert body["prediction"] is None
    assert body["annotations"][0]["lead_time"] == 3.5
    assert [(d["reviewer"], d["value"]) for d in body["reviews"]] == [("rita", {"label": "pos"})]


def test_item_detail_shows_the_prediction(as_user, project, annotator):
    prediction = {"model_version": 3, "value": {"label": "neg"}, "confidence": 0.7, "scores": [0.3, 0.7]}
    [item] = make_items(project, 1, prediction=prediction, confidence=0.7)

    r = as_user(annotator).get(f"/api/items/{item.pk}/")

    assert r.json()["prediction"] == prediction


def test_outsider_cannot_read_item(as_user, annotated, outsider):
    assert as_user(outsider).get(f"/api/items/{annotated.pk}/").status_code == 404
    assert as_user(outsider).get(f"/api/items/{annotated.pk}/annotations/").status_code == 404


def test_unknown_item_is_404(as_user, admin):
    assert as_user(admin).get("/api/items/999999/").status_code == 404


def test_removed_member_loses_the_items(as_user, admin, annotated, annotator):
    as_user(admin).delete(f"/api/projects/{annotated.project_id}/members/{annotator.pk}/")

    assert as_user(annotator).get(f"/api/items/{annotated.pk}/").status_code == 404


# --- next ---------------------------------------------------------------------------------------

def test_annotator_gets_items_in_import_order(as_user, project, annotator):
    items = make_items(project, 3)
    client = as_user(annotator)
    seen = []

    for _ in items:
        r = next_of(client, project)
        assert r.status_code == 200
        seen.append(r.json()["item"]["id"])
        assert submit(client, Item.objects.get(pk=seen[-1])).status_code == 201

    assert seen == [i.pk for i in items]
    assert next_of(client, project).status_code == 204


def test_next_shows_the_item_its_prediction_and_lease(as_user, project, annotator):
    prediction = {"model_version": 1, "value": {"label": "pos"}, "confidence": 0.55}
    [item] = make_items(project, 1, external_id="x-1", prediction=prediction, status=ItemStatus.QUEUED)

    r = next_of(as_user(annotator), project)

    assert r.status_code == 200
    body = r.json()
    assert body["item"] == {"id": item.pk, "external_id": "x-1", "data": {"text": "text 0"}, "status": "queued"}
    assert body["prediction"] == prediction
    lease = Assignment.objects.get(item=item, user=annotator)
    assert lease.state == LeaseState.LEASED
    assert lease.expires_at > timezone.now() + timedelta(seconds=project.lease_seconds - 60)
    assert body["lease_expires_at"]


def test_next_is_204_when_the_project_is_empty(as_user, project, annotator):
    r = next_of(as_user(annotator), project)

    assert r.status_code == 204
    assert not Assignment.objects.exists()


def test_next_never_hands_out_finished_items(as_user, project, annotator):
    for status in (ItemStatus.AUTO_ACCEPTED, ItemStatus.IN_REVIEW, ItemStatus.DONE):
        make_items(project, 1, status=status)

    assert next_of(as_user(annotator), project).status_code == 204


def test_reviewer_may_label_too(as_user, project, reviewer):
    make_items(project, 1)

    assert next_of(as_user(reviewer), project).status_code == 200


def test_admin_may_label(as_user, project, admin):
    make_items(project, 1)

    assert next_of(as_user(admin), project).status_code == 200


def test_ml_engineer_cannot_take_items(as_user, project, ml_engineer):
    make_items(project, 1)

    r = next_of(as_user(ml_engineer), project)

    assert r.status_code == 403
    assert not Assignment.objects.exists()


def test_outsider_cannot_take_items(as_user, project, outsider):
    make_items(project, 1)

    r = next_of(as_user(outsider), project)

    assert r.status_code == 404
    assert not Assignment.objects.exists()


def test_next_of_unknown_project_is_404(as_user, annotator):
    assert as_user(annotator).get("/api/projects/999999/next/").status_code == 404


def test_calling_next_again_resumes_the_same_lease(as_user, project, annotator):
    make_items(project, 3)
    client = as_user(annotator)

    first = next_of(client, project).json()
    again = next_of(client, project).json()

    assert again["item"]["id"] == first["item"]["id"]
    assert again["lease_expires_at"] == first["lease_expires_at"]
    assert Assignment.objects.filter(user=annotator).count() == 1


def test_exclude_prefetches_a_different_item(as_user, project, annotator):
    items = make_items(project, 3)
    client = as_user(annotator)

    current = next_of(client, project).json()["item"]["id"]
    prefetched = next_of(client, project, exclude=str(current)).json()["item"]["id"]
    third = next_of(client, project, exclude=f"{current},{prefetched}").json()["item"]["id"]

    assert [current, prefetched, third] == [i.pk for i in items]
    assert Assignment.objects.filter(user=annotator, state=LeaseState.LEASED).count() == 3
    assert next_of(client, project, exclude=f"{current},{prefetched},{third}").status_code == 204


def test_exclude_must_be_item_ids(as_user, project, annotator):
    make_items(project, 1)

    r = next_of(as_user(annotator), project, exclude="1,two")

    assert r.status_code == 400
    assert "exclude" in r.json()
    assert not Assignment.objects.exists()


def test_exclude_ignores_ids_that_are_not_items(as_user, project, annotator):
    [item] = make_items(project, 1)

    r = next_of(as_user(annotator), project, exclude="999999,-4,99999999999999999999")

    assert r.status_code == 200
    assert r.json()["item"]["id"] == item.pk


def test_a_leased_item_is_not_handed_to_a_second_annotator_with_overlap_1(as_user, project, annotator, annotator2):
    items = make_items(project, 2)

    first = next_of(as_user(annotator), project).json()["item"]["id"]
    second = next_of(as_user(annotator2), project).json()["item"]["id"]

    assert (first, second) == (items[0].pk, items[1].pk)


def test_nothing_left_while_all_items_are_leased(as_user, project, annotator, annotator2):
    make_items(project, 1)
    next_of(as_user(annotator), project)

    r = next_of(as_user(annotator2), project)

    assert r.status_code == 204
    assert Assignment.objects.filter(user=annotator2).count() == 0


def test_overlap_2_hands_the_same_item_to_two_annotators_but_not_a_third(
        as_user, admin, annotator, annotator2, reviewer):
    project = make_project(admin, [annotator, annotator2, reviewer], overlap=2)
    items = make_items(project, 2)

    a = next_of(as_user(annotator), project).json()["item"]["id"]
    b = next_of(as_user(annotator2), project).json()["item"]["id"]
    c = next_of(as_user(reviewer), project).json()["item"]["id"]

    assert a == b == items[0].pk
    assert c == items[1].pk
    assert sorted(u for u, _ in leases(items[0])) == ["ann", "bob"]


def test_overlap_2_third_annotator_gets_nothing_while_both_leases_are_active(
        as_user, admin, annotator, annotator2, reviewer):
    project = make_project(admin, [annotator, annotator2, reviewer], overlap=2)
    [item] = make_items(project, 1)
    next_of(as_user(annotator), project)
    next_of(as_user(annotator2), project)

    assert next_of(as_user(reviewer), project).status_code == 204
    assert len(leases(item)) == 2


def test_an_expired_lease_lets_someone_else_take_the_item(as_user, project, annotator, annotator2):
    [item] = make_items(project, 1)
    next_of(as_user(annotator), project)
    Assignment.objects.filter(user=annotator).update(expires_at=timezone.now() - timedelta(seconds=1))

    r = next_of(as_user(annotator2), project)

    assert r.status_code == 200
    assert r.json()["item"]["id"] == item.pk
    assert Assignment.objects.get(user=annotator2).state == LeaseState.LEASED


def test_an_expired_lease_may_be_taken_again_by_its_holder(as_user, project, annotator):
    [item] = make_items(project, 1)
    next_of(as_user(annotator), project)
    Assignment.objects.filter(user=annotator).update(expires_at=timezone.now() - timedelta(seconds=1))

    r = next_of(as_user(annotator), project)

    assert r.json()["item"]["id"] == item.pk
    lease = Assignment.objects.get(user=annotator)
    assert lease.expires_at > timezone.now()


def test_no_user_gets_an_item_twice(as_user, admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], overlap=2)
    items = make_items(project, 2)
    client = as_user(annotator)

    first = next_of(client, project).json()["item"]["id"]
    submit(client, Item.objects.get(pk=first))
    second = next_of(client, project).json()["item"]["id"]
    submit(client, Item.objects.get(pk=second))

    assert (first, second) == (items[0].pk, items[1].pk)
    assert next_of(client, project).status_code == 204  # both still need bob, but ann is done with them


def test_a_skipped_item_is_not_offered_again_to_the_skipper(as_user, project, annotator, annotator2):
    items = make_items(project, 2)
    client = as_user(annotator)

    first = next_of(client, project).json()["item"]["id"]
    client.post(f"/api/items/{first}/annotations/", {"skip": True}, format="json")

    assert next_of(client, project).json()["item"]["id"] == items[1].pk
    assert next_of(as_user(annotator2), project).json()["item"]["id"] == items[0].pk


def test_a_removed_member_cannot_take_items(as_user, admin, project, annotator):
    make_items(project, 1)
    as_user(admin).delete(f"/api/projects/{project.pk}/members/{annotator.pk}/")

    assert next_of(as_user(annotator), project).status_code == 404


# --- jobs ---------------------------------------------------------------------------------------

@pytest.fixture
def job(project, admin):
    return Job.objects.create(kind="import", project=project, created_by=admin, state="failed", error="boom")


def test_job_shows_its_documented_fields(as_user, job, admin):
    r = as_user(admin).get(f"/api/jobs/{job.pk}/")

    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "kind", "state", "progress", "total", "error", "result")} == {
        "id": job.pk, "kind": "import", "state": "failed", "progress": 0, "total": None, "error": "boom",
        "result": None}


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_project_members_see_its_jobs(as_user, request, job, persona):
    assert as_user(request.getfixturevalue(persona)).get(f"/api/jobs/{job.pk}/").status_code == 200


def test_outsider_cannot_see_a_projects_job(as_user, job, outsider):
    assert as_user(outsider).get(f"/api/jobs/{job.pk}/").status_code == 404


def test_the_starter_sees_their_job_without_being_a_member(as_user, admin, outsider):
    other = make_project(admin, name="Other")
    job = Job.objects.create(kind="export", project=other, created_by=outsider)

    assert as_user(outsider).get(f"/api/jobs/{job.pk}/").status_code == 200


def test_job_without_project_is_seen_by_its_starter_and_admins_only(as_user, admin, annotator, annotator2):
    job = Job.objects.create(kind="export", created_by=annotator)

    assert as_user(annotator).get(f"/api/jobs/{job.pk}/").status_code == 200
    assert as_user(admin).get(f"/api/jobs/{job.pk}/").status_code == 200
    assert as_user(annotator2).get(f"/api/jobs/{job.pk}/").status_code == 404


def test_unknown_job_is_404(as_user, admin):
    assert as_user(admin).get("/api/jobs/999999/").status_code == 404


def test_starter_retries_a_failed_job(as_user, job, admin):
    r = as_user(admin).post(f"/api/jobs/{job.pk}/retry/")

    assert r.status_code == 202
    assert r.json()["state"] == "pending"
    job.refresh_from_db()
    assert (job.state, job.error) == ("pending", "")


def test_admin_retries_someone_elses_job(as_user, project, annotator):
    job = Job.objects.create(kind="import", project=project, created_by=annotator, state="failed")
    other_admin = make_user("adele", "admin")

    assert as_user(other_admin).post(f"/api/jobs/{job.pk}/retry/").status_code == 202
    job.refresh_from_db()
    assert job.state == "pending"


def test_member_who_did_not_start_a_job_cannot_retry_it(as_user, job, annotator):
    r = as_user(annotator).post(f"/api/jobs/{job.pk}/retry/")

    assert r.status_code == 403
    job.refresh_from_db()
    assert job.state == "failed"


def test_outsider_cannot_retry_a_job(as_user, job, outsider):
    assert as_user(outsider).post(f"/api/jobs/{job.pk}/retry/").status_code == 404
    job.refresh_from_db()
    assert job.state == "failed"


def test_a_succeeded_job_is_not_retried(as_user, job, admin):
    Job.objects.filter(pk=job.pk).update(state="succeeded", result={"imported": 3})

    r = as_user(admin).post(f"/api/jobs/{job.pk}/retry/")

    assert r.status_code == 400
    assert "state" in r.json()
    job.refresh_from_db()
    assert (job.state, job.result) == ("succeeded", {"imported": 3})


def test_annotators_do_not_see_gold_answers_but_reviewers_do(as_user, annotator, reviewer, project):
    [item] = make_items(project, 1, gold={"label": "pos"}, final_value={"label": "pos"}, final_source="gold",
                        status="done")

    for path in (f"/api/items/{item.pk}/", f"/api/projects/{project.pk}/items/"):
        seen = as_user(annotator).get(path).json()
        seen = seen["results"][0] if "results" in seen else seen
        assert seen["final"] is None
    assert as_user(reviewer).get(f"/api/items/{item.pk}/").json()["final"]["source"] == "gold"


def test_a_released_lease_lets_someone_else_take_the_item(as_user, annotator, annotator2, project):
    [item] = make_items(project, 1)
    assert as_user(annotator).get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item.pk
    assert as_user(annotator2).get(f"/api/projects/{project.pk}/next/").status_code == 204

    assert as_user(annotator).post(f"/api/items/{item.pk}/release/").status_code == 204

    assert as_user(annotator2).get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item.pk
    assert not Assignment.objects.filter(item=item, user=annotator).exists()
