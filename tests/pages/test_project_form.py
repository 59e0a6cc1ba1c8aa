"""The project form: admins create and edit a project in the browser; everyone else gets 403."""
from __future__ import annotations

import pytest
from django.test import Client

from tasks.models import Membership, Project

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


FORM = {"name": "Tweets", "task_type": "classification", "labels": ["pos", "neg", "neutral"],
        "instructions": "Sarcasm counts as neg.", "overlap": "3", "auto_accept_threshold": "0.9",
        "escalation_threshold": "0.3", "strategy": "margin", "gold_rate": "0.2", "consensus_method": "dawid_skene",
        "retrain_every": "50", "retrain_schedule": ""}


def test_admin_creates_a_project_with_its_labels_in_order(admin):
    r = browser(admin).post("/projects/new/", FORM)

    project = Project.objects.get(name="Tweets")
    assert r.status_code == 302 and r["Location"] == f"/projects/{project.pk}/edit/?saved=1"
    assert (project.task_type, project.labels, project.instructions, project.overlap, project.auto_accept_threshold,
            project.escalation_threshold, project.strategy, project.gold_rate, project.consensus_method,
            project.retrain_every, project.created_by) == (
        "classification", ["pos", "neg", "neutral"], "Sarcasm counts as neg.", 3, 0.9, 0.3, "margin", 0.2,
        "dawid_skene", 50, admin)
    assert Membership.objects.filter(project=project, user=admin).exists()


def test_empty_label_rows_are_dropped(admin):
    browser(admin).post("/projects/new/", {**FORM, "labels": ["pos", "", "  ", "neg"]})
    assert Project.objects.get(name="Tweets").labels == ["pos", "neg"]


def test_admin_renames_a_project_and_reorders_its_labels(admin, project):
    client = browser(admin)
    page = client.get(f"/projects/{project.pk}/edit/")
    assert page.status_code == 200 and b'value="Reviews"' in page.content

    r = client.post(f"/projects/{project.pk}/edit/", {**FORM, "name": "Movie reviews", "labels": ["neg", "pos"],
                                                      "task_type": "ranking"})

    assert r.status_code == 302
    project.refresh_from_db()
    # The task type is fixed once created: the form has no field for it and ignores one posted.
    assert (project.name, project.labels, project.overlap, project.task_type) == (
        "Movie reviews", ["neg", "pos"], 3, "classification")
    assert b"Saved." in client.get(r["Location"]).content


@pytest.mark.parametrize("field, value, message", [
    ("overlap", "0", b"greater than or equal to 1"),
    ("gold_rate", "1.5", b"between 0 and 1"),
    ("retrain_schedule", "now and then", b"cron line"),
    ("name", "", b"may not be blank"),
])
def test_a_bad_field_shows_its_error_and_changes_nothing(admin, project, field, value, message):
    r = browser(admin).post(f"/projects/{project.pk}/edit/", {**FORM, "name": "Changed", field: value})

    assert r.status_code == 400
    assert message in r.content and b"Nothing was saved" in r.content
    assert f'value="{value}"'.encode() in r.content or field == "name"  # what was typed stays, to be corrected
    project.refresh_from_db()
    assert (project.name, project.overlap, project.labels) == ("Reviews", 1, ["pos", "neg"])


def test_a_classification_project_needs_a_label(admin):
    r = browser(admin).post("/projects/new/", {**FORM, "labels": [""]})
    assert r.status_code == 400 and b"needs at least one label" in r.content
    assert not Project.objects.filter(name="Tweets").exists()


def test_duplicate_labels_are_refused(admin):
    r = browser(admin).post("/projects/new/", {**FORM, "labels": ["pos", "pos"]})
    assert r.status_code == 400 and b"must be unique" in r.content
    assert not Project.objects.exists()


@pytest.mark.parametrize("who", ["annotator", "reviewer", "ml_engineer"])
def test_project_form_is_for_admins_only(request, who, project):
    client = browser(request.getfixturevalue(who))
    assert client.get("/projects/new/").status_code == 403
    assert client.post("/projects/new/", FORM).status_code == 403
    assert client.get(f"/projects/{project.pk}/edit/").status_code == 403
    assert client.post(f"/projects/{project.pk}/edit/", {**FORM, "name": "x"}).status_code == 403
    assert Project.objects.get().name == "Reviews"


def test_home_and_navigation_offer_new_and_edit_to_admins_only(admin, annotator, project):
    page = browser(admin).get("/").content.decode()
    assert 'href="/projects/new/"' in page and f'href="/projects/{project.pk}/edit/"' in page

    page = browser(annotator).get("/").content.decode()
    assert "/projects/new/" not in page and "/edit/" not in page
    assert '<nav class="nav" aria-label="Main">' in page and 'href="/"' in page


def test_editing_an_unknown_project_is_404(admin):
    assert browser(admin).get("/projects/999/edit/").status_code == 404
