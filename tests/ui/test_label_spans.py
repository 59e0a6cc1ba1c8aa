"""Spans in the browser: mouse and keyboard selection, labels by key, removal, skip, undo."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

# The emoji is one code point for the server but two UTF-16 units for the browser.
TEXT = "😀 Barack Obama visited Paris in 2015."

RECT_OF = """([start, end]) => {
  // Client rect of text[start:end] (UTF-16 offsets) inside the span text.
  const root = document.querySelector('.lb-span-text');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let pos = 0, range = document.createRange(), node, setStart = false;
  while ((node = walker.nextNode())) {
    const len = node.data.length;
    if (!setStart && start <= pos + len) { range.setStart(node, start - pos); setStart = true; }
    if (end <= pos + len) { range.setEnd(node, end - pos); break; }
    pos += len;
  }
  const r = range.getClientRects()[0];
  return {x: r.x, y: r.y, w: r.width, h: r.height};
}"""


def drag_select(page, text, first_word, last_word):
    """Select from the middle of one word to the middle of another with the real mouse."""
    a = text.index(first_word)
    b = text.index(last_word) + len(last_word)
    ra = page.evaluate(RECT_OF, [a + 1, a + 2])
    rb = page.evaluate(RECT_OF, [b - 2, b - 1])
    page.mouse.move(ra["x"] + 1, ra["y"] + ra["h"] / 2)
    page.mouse.down()
    page.mouse.move(rb["x"] + rb["w"] / 2, rb["y"] + rb["h"] / 2, steps=5)
    page.mouse.up()


def test_annotator_marks_spans_by_mouse_and_keyboard(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Named entities", task_type="spans", labels=["PER", "LOC", "DATE"],
                           instructions="Mark people (PER), places (LOC) and dates (DATE).")
    texts = [TEXT, "Ada Lovelace lived in London.", "Nothing to see here.", "Marie Curie worked in Paris and Warsaw."]
    items = [Item.objects.create(project=project, needed=1, data={"text": t}) for t in texts]
    # The model got Paris right and "visited" wrong.
    items[0].prediction = {"model_version": 1, "confidence": 0.55, "value": {"spans": [
        {"start": 15, "end": 22, "label": "PER"}, {"start": 23, "end": 28, "label": "LOC"}]}}
    items[0].save()

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator("mark.lb-span")).to_have_count(2)
    expect(page.locator("#lb-suggestion")).to_contain_text("2 spans (PER, LOC)")

    drag_select(page, TEXT, "Barack", "Obama")  # partial words snap to whole words
    expect(page.locator(".lb-pending")).to_have_text("Barack Obama")
    ui.press("1")
    expect(page.locator("mark.lb-span[data-label=PER]").first).to_have_text("Barack Obama")
    page.click("mark.lb-span:has-text('visited')")  # a click removes a span
    expect(page.locator("mark.lb-span")).to_have_count(2)
    page.locator(".lb-span-text").focus()
    ui.press("End", "ArrowLeft")  # "." then "2015"
    expect(page.locator(".lb-pending")).to_have_text("2015")
    ui.press("3")
    expect(page.locator(".lb-span-chip")).to_have_count(3)
    ui.screenshot("spans")
    ui.press("Enter")

    ui.expect_item(items[1])  # keyboard only
    ui.press("Home", "Shift+ArrowRight")
    expect(page.locator(".lb-pending")).to_have_text("Ada Lovelace")
    ui.press("1", "ArrowRight", "ArrowRight", "ArrowRight")
    expect(page.locator(".lb-pending")).to_have_text("London")
    ui.press("2", "Enter")

    ui.expect_item(items[2])
    ui.press("s")

    ui.expect_item(items[3])
    ui.press("Home", "Shift+ArrowRight", "1", "End", "ArrowLeft", "2", "Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.press("u")  # back comes Marie Curie with both spans; drop Warsaw and submit again
    ui.expect_item(items[3])
    expect(page.locator(".lb-span-chip")).to_have_count(2)
    page.locator(".lb-span-text").focus()
    ui.press("End", "ArrowLeft", "Delete")
    expect(page.locator(".lb-span-chip")).to_have_count(1)
    ui.press("Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    rows = stored(ann)
    assert rows == [
        (items[0].pk, {"spans": [{"start": 2, "end": 14, "label": "PER"}, {"start": 23, "end": 28, "label": "LOC"},
                                 {"start": 32, "end": 36, "label": "DATE"}]}, False),
        (items[1].pk, {"spans": [{"start": 0, "end": 12, "label": "PER"}, {"start": 22, "end": 28, "label": "LOC"}]},
         False),
        (items[2].pk, None, True),
        (items[3].pk, {"spans": [{"start": 0, "end": 11, "label": "PER"}]}, False),
    ]
    # The offsets are the server's (code points): they cut the text where the annotator saw it.
    value = Annotation.objects.get(item=items[0]).value
    assert [TEXT[s["start"]:s["end"]] for s in value["spans"]] == ["Barack Obama", "Paris", "2015"]
    ui.record_latency("spans")
