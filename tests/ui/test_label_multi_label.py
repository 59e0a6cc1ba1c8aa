"""Multi-label in the browser: toggling labels by key and by mouse, on text and on images."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import media_png, stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_annotator_toggles_labels_skips_and_undoes(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="News topics", task_type="multi_label",
                           labels=["politics", "sport", "business", "science"],
                           instructions="Choose every topic the headline is about; none is fine.")
    texts = ["Parliament passes the budget after a night of talks",
             "Striker's transfer fee breaks the league record",
             "Telescope finds water vapour on a distant planet",
             "Local bakery wins a prize"]
    items = [Item.objects.create(project=project, needed=1, data={"text": t}) for t in texts]
    items.append(Item.objects.create(project=project, needed=1,
                                     data={"image": media_png("ui/chart.png", size=(120, 80), color=(30, 90, 200))}))
    items[0].prediction = {"model_version": 2, "value": {"labels": ["politics", "business"]}, "confidence": 0.72,
                           "scores": {"politics": 0.9, "sport": 0.05, "business": 0.72, "science": 0.1}}
    items[0].save()

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator("#lb-suggestion")).to_contain_text("politics, business")
    expect(page.locator(".lb-choice[aria-pressed=true]")).to_have_count(2)
    expect(page.locator(".lb-choice[data-label=politics] .lb-badge")).to_have_text("AI 90%")
    ui.screenshot("multi-label")
    ui.press("3")  # correct the suggestion: not business
    expect(page.locator(".lb-choice[data-label=business]")).to_have_attribute("aria-pressed", "false")
    ui.press("Enter")

    ui.expect_item(items[1])
    ui.press("2", "3", "Enter")  # sport and business
    ui.expect_item(items[2])
    page.click(".lb-choice[data-label=science]")  # mouse
    page.click("#lb-submit")
    ui.expect_item(items[3])
    ui.press("Enter")  # no topic at all is an answer too
    ui.expect_item(items[4])
    ui.press("u")
    ui.expect_item(items[3])
    ui.press("s")  # ...changed my mind: skip it
    ui.expect_item(items[4])
    expect(page.locator(".lb-figure img")).to_be_visible()
    page.click("#lb-skip")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    rows = stored(ann)
    assert rows == [
        (items[0].pk, {"labels": ["politics"]}, False),
        (items[1].pk, {"labels": ["sport", "business"]}, False),
        (items[2].pk, {"labels": ["science"]}, False),
        (items[3].pk, None, True),
        (items[4].pk, None, True),
    ]
    ui.record_latency("multi_label")
