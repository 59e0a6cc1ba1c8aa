"""The project form in the browser: an admin creates a project with the label list editor (keyboard and
mouse), renames it, and sees a bad field refused; an annotator is turned away."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from tasks.models import Project
from tests.conftest import make_project, make_user
from tests.ui.conftest import login

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def labels_shown(page: Page) -> list[str]:
    return page.locator("#labels input[name=labels]").evaluate_all("els => els.map(e => e.value)")


def test_admin_creates_a_classification_project_with_three_labels(page: Page, live_server):
    make_user("alice", Role.ADMIN)
    login(page, live_server.url, "alice")

    page.click("#new-project")
    page.wait_for_url(f"{live_server.url}/projects/new/")
    page.fill("#name", "Tweets")
    page.select_option("#task_type", "classification")
    # Keyboard: type a label and press Enter (which adds it, not submits the form).
    for name in ("neg", "pos", "spam"):
        page.fill("#new-label", name)
        page.keyboard.press("Enter")
    expect(page.locator("#new-label")).to_be_focused()
    assert labels_shown(page) == ["neg", "pos", "spam"]
    # Mouse: move "pos" up; keyboard: Alt+ArrowDown in "neg"'s field moves it down one; then the mouse
    # removes a label added by mistake.
    page.click("button[aria-label='Move pos up']")
    assert labels_shown(page) == ["pos", "neg", "spam"]
    page.locator("#labels input[name=labels]").nth(1).focus()
    page.keyboard.press("Alt+ArrowDown")
    assert labels_shown(page) == ["pos", "spam", "neg"]
    page.fill("#new-label", "oops")
    page.click("#add-label")
    page.click("button[aria-label='Remove oops']")
    assert labels_shown(page) == ["pos", "spam", "neg"]
    page.fill("#instructions", "Ads are spam.")
    page.fill("#overlap", "2")
    page.click("#save")

    expect(page.get_by_role("status")).to_have_text("Saved.")
    project = Project.objects.get()
    assert page.url == f"{live_server.url}/projects/{project.pk}/edit/?saved=1"
    assert (project.name, project.task_type, project.labels, project.instructions, project.overlap) == (
        "Tweets", "classification", ["pos", "spam", "neg"], "Ads are spam.", 2)


def test_admin_renames_a_project_and_a_bad_overlap_changes_nothing(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin)
    login(page, live_server.url, "alice")

    page.click(f".project-row[data-project='{project.pk}'] >> text=Edit")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/edit/")
    page.fill("#name", "Movie reviews")
    page.click("#save")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    project.refresh_from_db()
    assert project.name == "Movie reviews"

    page.fill("#name", "Not saved")
    page.fill("#overlap", "0")
    page.click("#save")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#err-overlap")).to_contain_text("greater than or equal to 1")
    expect(page.locator("#overlap")).to_have_value("0")
    project.refresh_from_db()
    assert (project.name, project.overlap, project.labels) == ("Movie reviews", 1, ["pos", "neg"])


def test_an_annotator_gets_403_and_no_new_project_link(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    make_project(admin, [make_user("bob", Role.ANNOTATOR)])
    login(page, live_server.url, "bob")

    expect(page.get_by_role("link", name="New project")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto(f"{live_server.url}/projects/new/")
    assert response.status == 403
    assert Project.objects.count() == 1
