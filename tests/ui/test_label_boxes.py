"""Boxes in the browser: draw, move, resize, relabel, delete, zoom; keyboard and mouse."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import media_png, stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

W, H = 200, 150  # the original image size; values are in these pixels whatever the zoom


class Canvas:
    def __init__(self, page):
        self.page = page
        expect(page.locator(".lb-canvas img")).to_be_visible()
        box = page.locator(".lb-canvas").bounding_box()
        self.x, self.y, self.scale = box["x"], box["y"], box["width"] / W

    def at(self, x, y):
        return self.x + x * self.scale, self.y + y * self.scale

    def drag(self, x0, y0, x1, y1):
        self.page.mouse.move(*self.at(x0, y0))
        self.page.mouse.down()
        self.page.mouse.move(*self.at(x1, y1), steps=6)
        self.page.mouse.up()


def boxes_on_page(page):
    return page.evaluate("() => hitl.state.editor.value().value.boxes")


def assert_boxes(actual, expected, tol=1):
    assert len(actual) == len(expected), actual
    for a, e in zip(actual, expected):
        assert a["label"] == e["label"], (actual, expected)
        for k in "xywh":
            assert abs(a[k] - e[k]) <= tol, (k, actual, expected)
            assert a[k] == int(a[k])


def test_annotator_draws_moves_resizes_and_deletes_boxes(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Street scenes", task_type="boxes", labels=["car", "person", "sign"],
                           instructions="Draw a tight box around every car, person and sign.")
    items = [Item.objects.create(project=project, needed=1, external_id=f"scene-{i}",
                                 data={"image": media_png(f"ui/scene-{i}.png", size=(W, H), color=(60, 60, 190),
                                                          rect=(20, 30, 80, 90))})
             for i in range(3)]
    items[1].prediction = {"model_version": 4, "confidence": 0.8,
                           "value": {"boxes": [{"x": 20, "y": 30, "w": 60, "h": 60, "label": "car"}]}}
    items[1].save()

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    c = Canvas(page)
    assert c.scale > 1  # fitted: a small image is zoomed to fill the view

    c.drag(20, 30, 80, 90)  # draw with the current label, car
    expect(page.locator(".lb-canvas .lb-box")).to_have_count(1)
    ui.press("2")  # relabel the selected box: person
    c.drag(100, 20, 180, 60)  # draws with the current label, person
    page.locator(".lb-box-list select").nth(1).select_option("car")  # choose a box's label in the list
    assert_boxes(boxes_on_page(page), [{"x": 20, "y": 30, "w": 60, "h": 60, "label": "person"},
                                       {"x": 100, "y": 20, "w": 80, "h": 40, "label": "car"}])

    c.drag(50, 60, 60, 70)  # move box 1 by its middle
    page.mouse.click(*c.at(5, 140))  # a click on the empty image deselects
    page.locator(".lb-canvas .lb-box").nth(1).hover()
    c.drag(180, 60, 190, 70)  # resize box 2 by its bottom-right corner
    assert_boxes(boxes_on_page(page), [{"x": 30, "y": 40, "w": 60, "h": 60, "label": "person"},
                                       {"x": 100, "y": 20, "w": 90, "h": 50, "label": "car"}])

    # Keyboard: a new box in the middle, deleted; another one moved and resized with arrows.
    page.locator(".lb-viewport").focus()
    ui.press("Escape", "3", "b")  # deselect, so that 3 only picks the label for the new box
    expect(page.locator(".lb-canvas .lb-box")).to_have_count(3)
    ui.press("Delete")
    expect(page.locator(".lb-canvas .lb-box")).to_have_count(2)
    ui.press("b", "ArrowRight", "ArrowRight", "Shift+ArrowDown")
    boxes = boxes_on_page(page)
    assert_boxes(boxes[2:], [{"x": 75 + 4, "y": 56, "w": 50, "h": 38 + 2, "label": "sign"}])

    zoom = page.locator(".lb-zoom-value")
    fitted = zoom.inner_text()
    ui.press("+")
    expect(zoom).not_to_have_text(fitted)
    page.click("button:has-text('Fit')")
    expect(zoom).to_have_text(fitted)
    ui.screenshot("boxes")
    ui.press("Enter")

    ui.expect_item(items[1])  # the model's box is there; Enter accepts it
    expect(page.locator(".lb-canvas .lb-box")).to_have_count(1)
    expect(page.locator("#lb-suggestion")).to_contain_text("1 box (car)")
    ui.press("Enter")
    ui.expect_item(items[2])
    Canvas(page)
    ui.press("s")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.press("u")  # take the skip back: nothing to box in it after all
    ui.expect_item(items[2])
    Canvas(page)
    ui.press("Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    assert [row[0] for row in stored(ann)] == [items[0].pk, items[1].pk, items[2].pk]
    rows = {a.item_id: a for a in Annotation.objects.all()}
    assert_boxes(rows[items[0].pk].value["boxes"], [
        {"x": 30, "y": 40, "w": 60, "h": 60, "label": "person"},
        {"x": 100, "y": 20, "w": 90, "h": 50, "label": "car"},
        {"x": 79, "y": 56, "w": 50, "h": 40, "label": "sign"}])
    assert rows[items[1].pk].value == {"boxes": [{"x": 20, "y": 30, "w": 60, "h": 60, "label": "car"}]}
    assert rows[items[2].pk].value == {"boxes": []} and not rows[items[2].pk].skipped
    ui.record_latency("boxes")
