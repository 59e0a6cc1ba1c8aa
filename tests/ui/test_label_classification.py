"""Classification in the browser: text and image items, keyboard and mouse, skip, undo."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import media_png, stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)



def test_annotator_labels_text_by_keyboard_and_mouse_skips_and_undoes(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Movie reviews", labels=["fresh", "rotten"],
                           instructions="Fresh: the critic liked the film.\nRotten: they did not.")
    items = make_items(project, 6)
    texts = ["A warm, funny and wise film that earns every one of its tears.",
             "Two hours I will never get back.", "Handsome but hollow.", "A minor miracle.",
             "Overlong, overwrought and underwhelming.", "The best thing in it is the popcorn."]
    for item, text in zip(items, texts):
        item.data = {"text": text}
    items[0].prediction = {"model_version": 3, "value": {"label": "fresh"}, "confidence": 0.87,
                           "scores": {"fresh": 0.87, "rotten": 0.13}}
    Item.objects.bulk_update(items, ["data", "prediction"])

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    # The model's suggestion is pre-selected with its confidence; Enter accepts it.
    expect(page.locator("#lb-suggestion")).to_contain_text("fresh")
    expect(page.locator("#lb-suggestion")).to_contain_text("87%")
    expect(page.locator(".lb-choice[data-label=fresh]")).to_have_attribute("aria-pressed", "true")
    ui.screenshot("classification-text")
    ui.press("Enter")

    ui.expect_item(items[1])
    expect(page.locator("#lb-suggestion")).to_be_hidden()
    ui.press("Enter")  # nothing chosen: refused on the spot, with a message by the labels
    expect(page.locator(".lb-stage .lb-field-error")).to_contain_text("Choose a label")
    ui.press("2")
    expect(page.locator(".lb-choice[data-label=rotten]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".lb-stage .lb-field-error")).to_be_hidden()
    ui.press("Enter")

    ui.expect_item(items[2])  # by mouse
    page.click(".lb-choice[data-label=fresh]")
    page.click(".lb-choice[data-label=rotten]")
    page.click("#lb-submit")

    ui.expect_item(items[3])
    ui.press("s")  # skip

    ui.expect_item(items[4])
    ui.press("1", "Enter")
    ui.expect_item(items[5])
    ui.press("u")  # undo: item 4 comes back with the answer given
    ui.expect_item(items[4])
    expect(page.locator(".lb-choice[data-label=fresh]")).to_have_attribute("aria-pressed", "true")
    ui.press("2", "Enter")
    ui.expect_item(items[5])  # the item that was on screen before the undo
    ui.press("1", "Enter")
    expect(page.locator(".lb-done")).to_contain_text("All done")
    ui.wait_saved()

    assert stored(ann) == [
        (items[0].pk, {"label": "fresh"}, False),
        (items[1].pk, {"label": "rotten"}, False),
        (items[2].pk, {"label": "rotten"}, False),
        (items[3].pk, None, True),
        (items[4].pk, {"label": "rotten"}, False),
        (items[5].pk, {"label": "fresh"}, False),
    ]
    ui.record_latency("classification (text)")


def test_undo_after_the_answers_are_stored_takes_them_back_on_the_server(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann])
    items = make_items(project, 3)
    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    ui.press("u")
    expect(ui.status()).to_contain_text("Nothing to undo")
    ui.press("1", "Enter")
    ui.expect_item(items[1])
    ui.press("1", "Enter")
    ui.expect_item(items[2])
    ui.wait_saved()
    assert len(stored(ann)) == 2
    page.click("#lb-undo")  # newest first: item 1, then item 0
    ui.expect_item(items[1])
    ui.press("Backspace")
    ui.expect_item(items[0])
    assert stored(ann) == []  # both deleted on the server, and leased back to ann
    ui.press("2", "Enter")
    ui.expect_item(items[1])  # the other undone item, with its answer selected
    expect(page.locator(".lb-choice[data-label=pos]")).to_have_attribute("aria-pressed", "true")
    ui.press("2", "Enter")
    ui.expect_item(items[2])
    ui.wait_saved()
    assert stored(ann) == [(items[0].pk, {"label": "neg"}, False), (items[1].pk, {"label": "neg"}, False)]


def test_annotator_labels_images_with_the_digit_keys(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    digits = [str(d) for d in range(10)]
    project = make_project(admin, [ann], name="Handwritten digits", labels=digits)
    items = [Item.objects.create(project=project, needed=1, external_id=f"digit-{i}",
                                 data={"image": media_png(f"ui/digit-{i}.png", size=(8, 8), color=(20, 20, 20),
                                                          rect=(2, 1, 5, 6))})
             for i in range(3)]
    items[1].prediction = {"model_version": 1, "value": {"label": "7"}, "confidence": 0.61}
    items[1].save()

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator(".lb-figure img")).to_be_visible()
    assert page.evaluate("document.querySelector('.lb-figure img').naturalWidth") == 8
    ui.press("3", "Enter")
    ui.expect_item(items[1])
    expect(page.locator(".lb-figure img")).to_be_visible()
    expect(page.locator(".lb-choice[data-label='7'] .lb-badge")).to_have_text("AI 61%")
    ui.screenshot("classification-image")
    ui.press("Enter")
    ui.expect_item(items[2])
    expect(page.locator(".lb-figure img")).to_be_visible()
    ui.press("0", "Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()
    assert stored(ann) == [(items[0].pk, {"label": "3"}, False), (items[1].pk, {"label": "7"}, False),
                           (items[2].pk, {"label": "0"}, False)]
    ui.record_latency("classification (image)")


def test_submit_to_next_item_latency_on_a_benchmark_sized_project(labeler):
    """Measures (does not assert) submit -> next item painted, on a project shaped like bench.py's:
    tens of thousands of 15-word reviews, labels pos/neg/neutral. Printed in the test summary.

    At a person's pace the next item has been prefetched while they read; back to back (keys
    pressed as soon as an item shows) the wait for `next` is included.
    """
    import random

    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Benchmark reviews", labels=["pos", "neg", "neutral"])
    rng = random.Random(7)
    words = ("great terrible okay plot acting slow fast boring brilliant funny sad long short music score "
             "cast script ending twist camera colour loud quiet smart silly charming flat").split()
    n = 20_000
    Item.objects.bulk_create(
        [Item(project=project, needed=1, external_id=f"r{i}", data={"text": " ".join(rng.choices(words, k=15))})
         for i in range(n)], batch_size=5000)
    first = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)[:61])

    ui = labeler(ann, project)
    ui.expect_item(Item(pk=first[0]))
    for k in range(60):
        if k < 40:
            ui.wait_prefetched()
        ui.press(str(1 + k % 3), "Enter")
        ui.expect_item(Item(pk=first[k + 1]))
    ui.wait_saved()
    assert len(stored(ann)) == 60
    measured = ui.record_latency(f"classification, benchmark-sized project ({n} items)")
    assert sum(m["prefetched"] for m in measured) >= 40  # measured, not asserted: timings depend on the machine


def test_leaving_the_page_hands_back_the_prefetched_item(labeler):
    from tasks.models import Assignment

    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], labels=["fresh", "rotten"])
    first, second, _ = make_items(project, 3)

    ui = labeler(ann, project)
    ui.expect_item(first)
    ui.page.wait_for_function("() => window.hitl.state.ahead.length > 0")  # a function: the CSP forbids eval
    assert Assignment.objects.filter(user=ann, item=second).exists()

    ui.page.goto(ui.page.url.split("/projects/")[0] + "/")
    ui.page.wait_for_timeout(300)

    held = set(Assignment.objects.filter(user=ann).values_list("item_id", flat=True))
    assert held == {first.pk}, "the item on screen stays leased; the prefetched one is released"
