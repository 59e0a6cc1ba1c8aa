"""Project membership: only members (and admins) see a project; admins manage members."""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tasks.models import Membership
from tests.conftest import make_project, make_user

pytestmark = pytest.mark.django_db


def members_of(project) -> set[int]:
    return set(Membership.objects.filter(project=project).values_list("user_id", flat=True))


def test_member_lists_members(as_user, project, admin, annotator, annotator2, reviewer, ml_engineer):
    r = as_user(annotator).get(f"/api/projects/{project.pk}/members/")

    assert r.status_code == 200
    assert [u["username"] for u in r.json()] == ["alice", "ann", "bob", "rita", "mel"]
    assert r.json()[1] == {"id": annotator.pk, "username": "ann", "role": "annotator"}


def test_outsider_cannot_list_members(as_user, project, outsider):
    assert as_user(outsider).get(f"/api/projects/{project.pk}/members/").status_code == 404


def test_admin_adds_member_who_then_sees_the_project(as_user, admin, project, outsider):
    r = as_user(admin).post(f"/api/projects/{project.pk}/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 201
    assert r.json() == {"id": outsider.pk, "username": "otto", "role": "annotator"}
    assert outsider.pk in members_of(project)
    assert AuditEvent.objects.filter(action="member.added", project_id=project.pk, payload__member=outsider.pk).exists()
    listed = as_user(outsider).get("/api/projects/")
    assert [p["id"] for p in listed.json()["results"]] == [project.pk]
    assert as_user(outsider).get(f"/api/projects/{project.pk}/").status_code == 200


def test_adding_an_existing_member_again_changes_nothing(as_user, admin, project, annotator):
    before = members_of(project)

    r = as_user(admin).post(f"/api/projects/{project.pk}/members/", {"user": annotator.pk}, format="json")

    assert r.status_code == 200
    assert members_of(project) == before
    assert not AuditEvent.objects.filter(action="member.added").exists()


def test_admin_who_is_not_a_member_still_manages_members(as_user, admin, annotator, outsider):
    other_admin = make_user("adele", "admin")
    project = make_project(annotator, name="Not created by an admin")

    r = as_user(other_admin).post(f"/api/projects/{project.pk}/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 201
    assert members_of(project) == {annotator.pk, outsider.pk}


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admin_members_cannot_add_members(as_user, request, project, outsider, persona):
    r = as_user(request.getfixturevalue(persona)).post(
        f"/api/projects/{project.pk}/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 403
    assert outsider.pk not in members_of(project)


def test_outsider_cannot_add_themselves(as_user, project, outsider):
    r = as_user(outsider).post(f"/api/projects/{project.pk}/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 404
    assert outsider.pk not in members_of(project)


def test_adding_unknown_user_is_refused(as_user, admin, project):
    before = members_of(project)

    r = as_user(admin).post(f"/api/projects/{project.pk}/members/", {"user": 999999}, format="json")

    assert r.status_code == 400
    assert "user" in r.json()
    assert members_of(project) == before


def test_adding_deactivated_user_is_refused(as_user, admin, project, outsider):
    outsider.is_active = False
    outsider.save()

    r = as_user(admin).post(f"/api/projects/{project.pk}/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 400
    assert "user" in r.json()
    assert outsider.pk not in members_of(project)


@pytest.mark.parametrize("body", [{}, {"user": "otto"}, {"user": None}])
def test_adding_member_needs_a_user_id(as_user, admin, project, body):
    before = members_of(project)

    r = as_user(admin).post(f"/api/projects/{project.pk}/members/", body, format="json")

    assert r.status_code == 400
    assert "user" in r.json()
    assert members_of(project) == before


def test_adding_member_to_unknown_project_is_404(as_user, admin, outsider):
    r = as_user(admin).post("/api/projects/999999/members/", {"user": outsider.pk}, format="json")

    assert r.status_code == 404
    assert not Membership.objects.filter(user=outsider).exists()


def test_admin_removes_member_who_then_loses_the_project(as_user, admin, project, annotator):
    r = as_user(admin).delete(f"/api/projects/{project.pk}/members/{annotator.pk}/")

    assert r.status_code == 204
    assert annotator.pk not in members_of(project)
    assert AuditEvent.objects.filter(action="member.removed", payload__member=annotator.pk).exists()
    assert as_user(annotator).get(f"/api/projects/{project.pk}/").status_code == 404
    assert as_user(annotator).get("/api/projects/").json()["results"] == []


def test_removing_a_non_member_is_404(as_user, admin, project, outsider):
    r = as_user(admin).delete(f"/api/projects/{project.pk}/members/{outsider.pk}/")

    assert r.status_code == 404
    assert not AuditEvent.objects.filter(action="member.removed").exists()


def test_removing_unknown_user_is_404(as_user, admin, project):
    before = members_of(project)

    assert as_user(admin).delete(f"/api/projects/{project.pk}/members/999999/").status_code == 404
    assert members_of(project) == before


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admin_members_cannot_remove_members(as_user, request, project, annotator2, persona):
    r = as_user(request.getfixturevalue(persona)).delete(f"/api/projects/{project.pk}/members/{annotator2.pk}/")

    assert r.status_code == 403
    assert annotator2.pk in members_of(project)


def test_outsider_cannot_remove_members(as_user, project, outsider, annotator):
    r = as_user(outsider).delete(f"/api/projects/{project.pk}/members/{annotator.pk}/")

    assert r.status_code == 404
    assert annotator.pk in members_of(project)
