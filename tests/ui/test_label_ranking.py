"""Ranking in the browser: four responses ordered with the keyboard only, ties included, in few keys."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

REVIEWS = ["A tedious, joyless slog.", "A warm, generous film full of heart.", "Pleasant enough, if forgettable.",
           "Cold and cynical from start to finish."]


def ranking_data(prompt: str) -> dict:
    return {"prompt": prompt, "responses": [{"id": f"r{i}", "text": t} for i, t in enumerate(REVIEWS, 1)]}


def test_annotator_ranks_four_responses_with_the_keyboard_only(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Rank the reviews by warmth", task_type="ranking", labels=[])
    items = [Item.objects.create(project=project, needed=1, data=ranking_data(f"Warmest first ({n})"))
             for n in range(4)]
    items[2].prediction = {"model_version": 1, "value": {"ranking": [["r2"], ["r3"], ["r1", "r4"]]}, "confidence": 0.81}
    items[2].save()

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    cards = page.locator(".lb-rank-card")
    expect(cards).to_have_count(4)
    expect(cards.nth(0)).to_contain_text("tedious")  # shown in the given order, as a strict ranking
    # r2 to the top, r3 tied with r1 below it: five keys with Enter.
    ui.press("2", "ArrowUp", "3", "=")
    expect(page.locator(".lb-rank-group")).to_have_count(3)
    expect(page.locator(".lb-rank-group").nth(0)).to_contain_text("warm, generous")
    expect(page.locator(".lb-rank-group").nth(1)).to_have_attribute("aria-label", "Rank 2 (tie)")
    ui.screenshot("ranking")
    ui.press("Enter")

    ui.expect_item(items[1])
    ui.press("Enter")  # the order shown is the answer

    ui.expect_item(items[2])
    expect(page.locator("#lb-suggestion")).to_contain_text("r2 > r3 > r1 = r4")
    expect(page.locator("#lb-suggestion")).to_contain_text("81%")
    expect(page.locator(".lb-rank-group").nth(0)).to_contain_text("warm, generous")  # pre-filled
    ui.press("4", "ArrowUp", "Enter")  # out of the tie, above r1

    ui.expect_item(items[3])
    # The worst to the bottom and the best to the top, a tie taken apart again.
    ui.press("1", "ArrowDown", "ArrowDown", "ArrowDown", "2", "ArrowUp", "4", "=", "ArrowDown", "Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    assert stored(ann) == [
        (items[0].pk, {"ranking": [["r2"], ["r1", "r3"], ["r4"]]}, False),
        (items[1].pk, {"ranking": [["r1"], ["r2"], ["r3"], ["r4"]]}, False),
        (items[2].pk, {"ranking": [["r2"], ["r3"], ["r4"], ["r1"]]}, False),
        (items[3].pk, {"ranking": [["r2"], ["r3"], ["r4"], ["r1"]]}, False),
    ]
