"""Bad input and bad luck: broken images, refused values, no rights, a lost connection."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item, Project
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import login, media_png, stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)



def test_broken_or_missing_images_say_so_and_can_be_skipped(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Photos", labels=["cat", "dog"])
    garbage = Path(settings.MEDIA_ROOT) / "ui" / "broken.png"
    garbage.parent.mkdir(parents=True, exist_ok=True)
    garbage.write_bytes(b"this is not a PNG")
    items = [
        Item.objects.create(project=project, needed=1, data={"image": "/media/ui/broken.png"}),
        Item.objects.create(project=project, needed=1, data={"image": "/media/ui/no-such-file.png"}),
        Item.objects.create(project=project, needed=1, data={"image": media_png("ui/fine.png")}),
    ]
    boxes = make_project(admin, [ann], name="Scenes", task_type="boxes", labels=["car"])
    no_image = Item.objects.create(project=boxes, needed=1, data={"caption": "an image record without an image"})

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator(".lb-bad-item")).to_contain_text("image cannot be shown")
    ui.press("1", "Enter")  # refused: there is nothing to judge
    ui.expect_item(items[0])
    expect(page.locator(".lb-stage .lb-field-error")).to_contain_text("Press s to skip")
    ui.press("s")
    ui.expect_item(items[1])
    expect(page.locator(".lb-bad-item")).to_contain_text("image cannot be shown")
    page.click("#lb-skip")
    ui.expect_item(items[2])
    expect(page.locator(".lb-figure img")).to_be_visible()
    ui.press("2", "Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    ui.project = boxes
    ui.open()
    ui.expect_item(no_image)
    expect(page.locator(".lb-bad-item")).to_contain_text("has no image")
    ui.press("s")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()
    assert stored(ann) == [(items[0].pk, None, True), (items[1].pk, None, True), (items[2].pk, {"label": "dog"}, False),
                           (no_image.pk, None, True)]


def test_a_value_the_server_refuses_comes_back_with_its_message(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], labels=["pos", "neg", "mixed"])
    items = make_items(project, 3)
    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    # Meanwhile an admin drops the label "mixed" from the project.
    Project.objects.filter(pk=project.pk).update(labels=["pos", "neg"])
    ui.press("3", "Enter")  # the screen moves on at once, and then the refused item comes back
    ui.expect_item(items[0])  # with the server's message by the labels
    expect(page.locator(".lb-stage .lb-field-error")).to_contain_text("value.label: unknown label 'mixed'")
    expect(page.locator(".lb-choice[data-label=mixed]")).to_have_attribute("aria-pressed", "true")
    expect(ui.status()).to_contain_text("not saved")
    ui.screenshot("validation-error")
    ui.press("1")
    expect(page.locator(".lb-stage .lb-field-error")).to_be_hidden()
    ui.press("Enter")
    ui.expect_item(items[1])  # the item that had been shown meanwhile is next again
    ui.press("2", "Enter")
    ui.expect_item(items[2])
    ui.wait_saved()
    assert stored(ann) == [(items[0].pk, {"label": "pos"}, False), (items[1].pk, {"label": "neg"}, False)]


def test_users_without_rights_get_a_403_page(page, live_server):
    admin = make_user("alice", Role.ADMIN)
    outsider = make_user("otto", Role.ANNOTATOR)
    mel = make_user("mel", Role.ML_ENGINEER)
    project = make_project(admin, [mel])
    url = f"{live_server.url}/projects/{project.pk}/label/"

    response = page.goto(url)  # not logged in: the login page, then back here
    assert "/login/" in page.url
    for user in (outsider, mel):
        page.context.clear_cookies()
        login(page, live_server.url, user.username)
        response = page.goto(url)
        assert response.status == 403
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator("[role=alert]")).to_be_visible()
    response = page.goto(f"{live_server.url}/projects/999999/label/")
    assert response.status in (403, 404)


def test_a_lost_connection_never_loses_a_submission(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann])
    items = make_items(project, 4)
    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    net = {"mode": "ok"}

    def annotations(route):
        if route.request.method != "POST" or net["mode"] == "ok":
            route.continue_()
        elif net["mode"] == "answer lost":
            route.fetch()  # reaches the server and is stored, but the answer never arrives
            net["mode"] = "ok"
            route.abort("connectionreset")
        else:
            route.abort("internetdisconnected")

    page.route("**/api/items/*/annotations/", annotations)

    # 1. The answer to the first attempt is lost: the retry gets a 409, which means "stored".
    net["mode"] = "answer lost"
    ui.press("1", "Enter")
    ui.expect_item(items[1])
    ui.wait_saved()
    expect(ui.status()).to_contain_text(f"Saved item {items[0].pk}")

    # 2. Offline for a while: the page says so, keeps the answer, and sends it when back.
    net["mode"] = "offline"
    ui.press("2", "Enter")
    ui.expect_item(items[2])  # labeling goes on meanwhile
    expect(ui.status()).to_contain_text("Connection lost — retrying… (1 unsaved)")
    ui.press("1", "Enter")
    ui.expect_item(items[3])
    expect(ui.status()).to_contain_text("(2 unsaved)")
    net["mode"] = "ok"
    page.evaluate("window.dispatchEvent(new Event('online'))")
    ui.wait_saved()

    # 3. Offline and the page is reloaded: the answer waits on this device and goes on the next load.
    net["mode"] = "offline"
    ui.press("2", "Enter")
    expect(ui.status()).to_contain_text("Connection lost")
    page.unroute("**/api/items/*/annotations/")
    page.on("dialog", lambda d: d.accept())  # "leave the page with unsaved answers?"
    page.reload()
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    assert stored(ann) == [(items[0].pk, {"label": "pos"}, False), (items[1].pk, {"label": "neg"}, False),
                           (items[2].pk, {"label": "pos"}, False), (items[3].pk, {"label": "neg"}, False)]
