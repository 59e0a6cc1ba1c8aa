"""A rubric in the browser: three questions under the main label, answered with the keyboard only."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import make_items, make_project, make_user

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

RUBRIC = [
    {"id": "helpful", "type": "rating", "scale": 5, "text": "How helpful is it?", "required": True,
     "labels": ["useless", "poor", "ok", "good", "excellent"]},
    {"id": "offensive", "type": "flag", "text": "Is it offensive?", "required": True},
    {"id": "why", "type": "text", "text": "Why?", "required": False, "min_length": 10},
]


def test_annotator_fills_a_rubric_with_the_keyboard_only(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Answers", labels=["good", "bad"], questions=RUBRIC)
    items = make_items(project, 3)
    items[2].prediction = {"model_version": 1, "value": {"label": "good"}, "confidence": 0.9,
                           "answers": {"helpful": {"value": 5, "confidence": 0.8}}}
    Item.objects.bulk_update(items, ["prediction"])

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator(".lb-q")).to_have_count(3)

    ui.press("1")  # the main label: "good"
    ui.press("Enter")  # the required rating is missing: refused, and named by its question
    expect(page.locator(".lb-q[data-question=helpful] .lb-field-error")).to_contain_text("How helpful")
    expect(page.locator(".lb-q[data-question=helpful]")).to_have_class("lb-q lb-q-active")
    ui.press("4")  # the focused question is the rating now
    expect(page.locator(".lb-q[data-question=helpful] [data-answer='4']")).to_have_attribute("aria-pressed", "true")
    ui.press("Tab", "0")  # offensive: no
    expect(page.locator(".lb-q[data-question=offensive] [data-answer=false]")).to_have_attribute("aria-pressed", "true")
    ui.press("Tab")  # the text box takes typing, digits too
    page.keyboard.type("Clear, with 2 examples.")
    ui.press("Shift+Tab", "1", "Tab", "Tab")  # back to offensive: yes; then back in the text box
    ui.press("Enter")
    ui.expect_item(items[1])

    # The label keys go to the main widget again, the rating by Tab; the optional text is left empty.
    ui.press("2", "Tab", "3", "Tab", "1", "Enter")
    ui.expect_item(items[2])
    # The model's suggested rating is pre-selected and marked.
    expect(page.locator(".lb-q[data-question=helpful] .lb-q-ai")).to_contain_text("AI 80%")
    expect(page.locator(".lb-q[data-question=helpful] [data-answer='5']")).to_have_attribute("aria-pressed", "true")
    ui.press("Tab", "Tab", "0", "Tab")
    page.keyboard.type("short")
    ui.press("Enter")  # too short for the rationale
    expect(page.locator(".lb-q[data-question=why] .lb-field-error")).to_contain_text("at least 10")
    page.keyboard.type(" but enough now")
    ui.press("Enter")
    ui.wait_saved()

    values = {a.item_id: a.value for a in Annotation.objects.filter(user=ann)}
    assert values == {
        items[0].pk: {"label": "good", "answers": {"helpful": 4, "offensive": True, "why": "Clear, with 2 examples."}},
        items[1].pk: {"label": "bad", "answers": {"helpful": 3, "offensive": True}},
        items[2].pk: {"label": "good", "answers": {"helpful": 5, "offensive": False, "why": "short but enough now"}},
    }
