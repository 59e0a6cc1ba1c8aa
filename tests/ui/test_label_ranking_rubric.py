"""LLM evaluation in the browser: rank four responses and fill a three-question rubric, keyboard only,
in at most 8 key presses."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import stored
from tests.ui.test_label_ranking import ranking_data

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

QUESTIONS = [
    {"id": "helpful", "type": "rating", "scale": 5, "required": True,
     "labels": ["useless", "weak", "fair", "good", "excellent"]},
    {"id": "offensive", "type": "flag"},
    {"id": "why", "type": "text", "required": False, "min_length": 10},
]


def test_four_responses_ranked_and_a_three_question_rubric_filled_in_eight_keys(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Judge the answers", task_type="ranking", labels=[],
                           questions=QUESTIONS)
    item = Item.objects.create(project=project, needed=1, data=ranking_data("Which review is warmest?"))

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(item)
    expect(page.locator(".lb-rank-card")).to_have_count(4)
    # r2 to the top; Tab to "helpful", 4; Tab to "offensive", 0 (no); the rationale is optional; Enter.
    keys = ["2", "ArrowUp", "Tab", "4", "Tab", "0", "Enter"]
    assert len(keys) <= 8
    ui.press(*keys[:-1])
    ui.screenshot("ranking-rubric")
    ui.press(keys[-1])
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    assert stored(ann) == [(item.pk, {"ranking": [["r2"], ["r1"], ["r3"], ["r4"]],
                                      "answers": {"helpful": 4, "offensive": False}}, False)]
