"""The project form: admins create and edit a project in the browser; everyone else gets 403."""
from __future__ import annotations

import pytest

from tasks.models import Membership, Project
from tests.conftest import browser

pytestmark = pytest.mark.django_db


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


def test_label_colours_are_saved_with_their_rows(admin, project):
    client = browser(admin)
    # One colour field per row ("" = the palette's); the add-a-label field comes last, without one.
    r = client.post(f"/projects/{project.pk}/edit/", {**FORM, "labels": ["pos", "neg", "meh", ""],
                                                      "label_color": ["#AA0000", "", "#00aa00"]})
    assert r.status_code == 302
    project.refresh_from_db()
    assert project.label_colors == {"pos": "#aa0000", "meh": "#00aa00"}
    page = client.get(f"/projects/{project.pk}/edit/").content.decode()
    assert 'value="#aa0000"' in page and 'aria-label="Colour of pos"' in page

    # A label removed from the list takes its colour with it.
    client.post(f"/projects/{project.pk}/edit/", {**FORM, "labels": ["pos", "neg"], "label_color": ["#aa0000", ""]})
    project.refresh_from_db()
    assert project.label_colors == {"pos": "#aa0000"}


def test_a_bad_colour_is_refused(admin, project):
    r = browser(admin).post(f"/projects/{project.pk}/edit/", {**FORM, "labels": ["pos"], "label_color": ["red"]})
    assert r.status_code == 400 and b"must be a colour written" in r.content


def test_saved_labels_are_renamed_through_their_buttons(admin, project):
    page = browser(admin).get(f"/projects/{project.pk}/edit/").content.decode()
    assert 'data-saved="pos"' in page and 'aria-label="Rename pos"' in page
    assert 'aria-label="Merge pos into another label"' in page
    assert 'value="pos" aria-label="Label 1" readonly' in page
    # A new project's labels are all new: no rename, no merge.
    assert "Rename" not in browser(admin).get("/projects/new/").content.decode()


def test_the_instructions_preview_is_rendered_and_sanitized(as_user, admin, project):
    r = as_user(admin).post("/api/instructions/preview/", {"text": "**Hi** <script>alert(1)</script>"}, format="json")
    assert r.status_code == 200 and r.json() == {
        "html": "<p><strong>Hi</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\n",
        "nodes": [{"tag": "p", "attrs": {}, "children": [{"tag": "strong", "attrs": {}, "children": ["Hi"]},
                                                         " <script>alert(1)</script>"]}, "\n"]}
    assert as_user(admin).post("/api/instructions/preview/", {"text": 3}, format="json").json() == {
        "text": ["Send the Markdown as text."]}
    project.instructions = "Say *why*. <img src=x onerror=alert(1)>"
    project.save()
    page = browser(admin).get(f"/projects/{project.pk}/edit/").content.decode()
    assert '<div class="md-preview" id="instructions-preview"' in page and "<em>why</em>" in page
    shown = page.split('id="instructions-preview"')[1].split("</div>")[0]
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown  # typed HTML is text


@pytest.mark.parametrize("who", ["annotator", "reviewer", "ml_engineer"])
def test_the_preview_is_for_admins(request, as_user, who, project):
    r = as_user(request.getfixturevalue(who)).post("/api/instructions/preview/", {"text": "x"}, format="json")
    assert r.status_code == 403


def test_the_labeling_screen_shows_rendered_instructions_and_label_colours(annotator, project):
    project.instructions = "# Rules\n\n**Sarcasm** is neg. <a href=\"javascript:alert(1)\" onclick=\"x()\">x</a>"
    project.label_colors = {"neg": "#aa0000"}
    project.save()
    page = browser(annotator).get(f"/projects/{project.pk}/label/").content.decode()
    dialog = page.split('id="lb-instructions-dialog"')[1].split("</dialog>")[0]
    assert "<h1>Rules</h1>" in dialog and "<strong>Sarcasm</strong>" in dialog
    # Typed HTML is shown as text; no element of it, nor its link, reaches the page.
    assert "<a " not in dialog and "&lt;a href=" in dialog
    assert '<script id="hitl-label-colors" type="application/json">{"neg": "#aa0000"}</script>' in page


def test_annotator_quality_settings_are_saved_from_the_form(admin, project):
    r = browser(admin).post(f"/projects/{project.pk}/edit/", {
        **FORM, "qualification_items": "5", "qualification_pass": "0.8", "accuracy_floor": "0.5",
        "min_seconds_per_item": "2", "streak_length": "20", "streak_max_share": "0.9", "session_cap": "",
        "daily_cap": "500", "overlap_mode": "adaptive", "posterior_target": "0.95", "max_overlap": "4"})
    assert r.status_code == 302
    project.refresh_from_db()
    assert (project.qualification_items, project.qualification_pass, project.accuracy_floor) == (5, 0.8, 0.5)
    assert (project.min_seconds_per_item, project.streak_length, project.streak_max_share) == (2, 20, 0.9)
    assert (project.session_cap, project.daily_cap) == (None, 500)
    assert (project.overlap_mode, project.posterior_target, project.max_overlap) == ("adaptive", 0.95, 4)


def test_a_streak_guard_needs_both_its_numbers(admin, project):
    r = browser(admin).post(f"/projects/{project.pk}/edit/", {**FORM, "streak_length": "20", "streak_max_share": ""})
    assert r.status_code == 400
    assert b"Set streak_length and streak_max_share together." in r.content
    project.refresh_from_db()
    assert project.streak_length is None
