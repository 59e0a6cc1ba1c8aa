"""The project form in the browser: an admin creates a project with the label list editor (keyboard and
mouse), renames it, and sees a bad field refused; renames and merges labels whose annotations follow, picks
a label's colour and sees it on the labeling screen, and previews Markdown instructions; an annotator is
turned away."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from annotations.models import Annotation
from audit.models import AuditEvent
from tasks.models import Item, Project
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import login, screenshot

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


def annotated(project, users, values):
    """One item per value, annotated with it by every user; the first item's final value is its value."""
    items = make_items(project, len(values))
    for item, value in zip(items, values):
        for user in users:
            Annotation.objects.create(project=project, item=item, user=user, value={"label": value})
    Item.objects.filter(pk=items[0].pk).update(final_value={"label": values[0]}, final_source="consensus")
    return items


def open_form(page: Page, base: str, project) -> None:
    login(page, base, "alice")
    page.goto(f"{base}/projects/{project.pk}/edit/")


def test_admin_renames_a_label_and_its_annotations_follow(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [ann, bob], labels=["pos", "neg"])
    annotated(project, [ann, bob], ["pos", "neg", "pos"])
    open_form(page, live_server.url, project)

    # A saved label's name is changed only through Rename: the field is read-only until then.
    field = page.locator("#labels input[name=labels]").first
    expect(field).to_have_attribute("readonly", "")
    page.click("button[aria-label='Rename pos']")
    expect(field).to_be_focused()
    field.fill("positive")
    page.keyboard.press("Enter")
    dialog = page.locator("#relabel-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#relabel-title")).to_have_text("Rename “pos” to “positive”?")
    expect(page.locator("#relabel-counts")).to_have_text("4 annotations, 0 predictions, 1 final value will change.")
    page.click("#relabel-confirm")

    expect(dialog).to_be_hidden()
    expect(page.locator("#label-status")).to_contain_text("Renamed “pos” to “positive”: 4 annotations")
    expect(field).to_have_attribute("readonly", "")
    assert labels_shown(page) == ["positive", "neg"]
    project.refresh_from_db()
    assert project.labels == ["positive", "neg"]
    assert sorted(Annotation.objects.values_list("value__label", flat=True)) == ["neg", "neg"] + ["positive"] * 4
    assert Item.objects.get(pk=Item.objects.order_by("id").first().pk).final_value == {"label": "positive"}
    assert AuditEvent.objects.get(action="labels.renamed").payload["counts"]["annotations"] == 4

    # Renaming onto another label is refused, with the merge offered instead.
    page.click("button[aria-label='Rename neg']")
    page.locator("#labels input[name=labels]").nth(1).fill("positive")
    page.keyboard.press("Enter")
    page.click("#relabel-confirm")
    expect(page.locator("#relabel-error")).to_have_text("'positive' is already a label; merge instead.")
    expect(page.locator("#relabel-confirm")).to_have_text("Merge into “positive”")
    page.click("#relabel-cancel")
    expect(dialog).to_be_hidden()
    # Cancelled: the row shows its saved name again, read-only.
    expect(page.locator("#labels input[name=labels]").nth(1)).to_have_value("neg")
    expect(page.locator("#labels input[name=labels]").nth(1)).to_have_attribute("readonly", "")
    assert labels_shown(page) == ["positive", "neg"]
    project.refresh_from_db()
    assert project.labels == ["positive", "neg"]

    # Saving the form afterwards keeps the new name.
    page.click("#save")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    project.refresh_from_db()
    assert project.labels == ["positive", "neg"]


def test_admin_merges_two_labels(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], labels=["pos", "neg", "negative"])
    annotated(project, [ann], ["negative", "neg", "pos"])
    open_form(page, live_server.url, project)

    page.click("button[aria-label='Merge negative into another label']")
    expect(page.locator("#relabel-counts")).to_have_text("1 annotation, 0 predictions, 1 final value will change.")
    page.select_option("#relabel-target", "neg")
    page.click("#relabel-confirm")

    expect(page.locator("#label-status")).to_contain_text("Merged “negative” into “neg”")
    assert labels_shown(page) == ["pos", "neg"]
    project.refresh_from_db()
    assert project.labels == ["pos", "neg"]
    assert sorted(Annotation.objects.values_list("value__label", flat=True)) == ["neg", "neg", "pos"]
    assert AuditEvent.objects.filter(action="labels.merged").count() == 1


def test_admin_sets_a_label_colour_and_the_labeling_screen_uses_it(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin, name="Entities", task_type="spans", labels=["PER", "ORG"])
    Item.objects.create(project=project, needed=1, data={"text": "Ada Lovelace met Babbage."})
    open_form(page, live_server.url, project)

    page.locator("input[aria-label='Colour of ORG']").fill("#aa3300")
    page.click("#save")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    project.refresh_from_db()
    assert project.label_colors == {"ORG": "#aa3300"}
    expect(page.locator("input[aria-label='Colour of ORG']")).to_have_value("#aa3300")

    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    org = page.locator(".lb-choice[data-label='ORG']")
    expect(org).to_be_visible()
    assert org.evaluate("el => el.style.getPropertyValue('--c')") == "#aa3300"
    # A label without a colour of its own keeps the palette's.
    assert page.locator(".lb-choice[data-label='PER']").evaluate("el => el.style.getPropertyValue('--c')") == "#0b57d0"


def test_markdown_instructions_are_previewed_and_shown_to_annotators(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin, labels=["pos", "neg"])
    Item.objects.create(project=project, needed=1, data={"text": "A fine film."})
    open_form(page, live_server.url, project)

    page.fill("#instructions", "## Rules\n\n**Sarcasm** counts as *neg*.\n\n- ads are neg\n\n"
                               "<script>document.title = 'pwned'</script>[bad](javascript:alert(1))")
    preview = page.locator("#instructions-preview")
    expect(preview.locator("h2")).to_have_text("Rules")
    expect(preview.locator("strong")).to_have_text("Sarcasm")
    expect(preview.locator("li")).to_have_text("ads are neg")
    expect(preview.locator("script")).to_have_count(0)
    expect(preview.locator("a")).to_have_count(0)
    expect(preview).to_contain_text("<script>document.title = 'pwned'</script>")  # typed HTML is text
    screenshot(page, "project-form")
    page.click("#save")
    expect(page.get_by_role("status")).to_have_text("Saved.")

    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    expect(page.locator(".lb-choice").first).to_be_visible()  # the screen's script is running
    page.click("#lb-instructions")
    dialog = page.locator("#lb-instructions-dialog")
    expect(dialog.locator("h2", has_text="Rules")).to_be_visible()
    expect(dialog.locator("strong")).to_have_text("Sarcasm")
    expect(dialog.locator("script")).to_have_count(0)
    assert page.title() != "pwned"
