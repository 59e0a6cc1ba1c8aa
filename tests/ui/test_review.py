"""The review screen in the browser: two annotators disagree, a reviewer decides by keyboard."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from annotations.models import ReviewDecision
from annotations.services import Submission, submit_annotation
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import SCREENSHOTS, login

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

TEXTS = ["A handsome film with nothing under its surface, though the cast tries hard.",
         "The funniest two hours of the year; I laughed until it hurt.",
         "Not good, not bad: a film that happens to you and is gone by the car park."]


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("HITL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide", full_page=True)


@pytest.fixture
def disputed():
    """A classification project (overlap 2) where ann and bob disagree on two items and agree on one."""
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    rita = make_user("rita", Role.REVIEWER)
    project = make_project(admin, [ann, bob, rita], name="Movie reviews", labels=["fresh", "rotten"], overlap=2)
    items = make_items(project, 3)
    for item, text in zip(items, TEXTS, strict=True):
        item.data = {"text": text}
    items[0].prediction = {"model_version": 1, "value": {"label": "rotten"}, "confidence": 0.62,
                           "scores": {"fresh": 0.38, "rotten": 0.62}}
    Item.objects.bulk_update(items, ["data", "prediction"])
    for item, (a, b) in zip(items, [("fresh", "rotten"), ("fresh", "fresh"), ("rotten", "fresh")], strict=True):
        submit_annotation(ann, item.pk, Submission(value={"label": a}, lead_time=4.0))
        submit_annotation(bob, item.pk, Submission(value={"label": b}, lead_time=6.0))
    statuses = [Item.objects.get(pk=i.pk).status for i in items]
    assert statuses == [ItemStatus.IN_REVIEW, ItemStatus.DONE, ItemStatus.IN_REVIEW]
    return project, items, rita


def test_reviewer_decides_by_number_key_and_enter(page: Page, live_server, disputed):
    project, items, rita = disputed
    login(page, live_server.url, rita.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")

    expect(page.locator("#rv-item")).to_have_text(f"Item {items[0].pk}")
    expect(page.locator("#rv-reason")).to_have_text("disagreement")
    expect(page.locator("#rv-stage")).to_contain_text(TEXTS[0][:30])
    cands = page.locator(".rv-cand")
    expect(cands).to_have_count(3)
    expect(cands.nth(0)).to_contain_text("ann")
    expect(cands.nth(0)).to_contain_text("fresh")
    expect(cands.nth(1)).to_contain_text("bob")
    expect(cands.nth(2)).to_contain_text("model")
    expect(cands.nth(2)).to_contain_text("62%")

    # Nothing picked yet: Enter is refused with a message by the value.
    page.keyboard.press("Enter")
    expect(page.locator("#rv-error")).to_contain_text("Pick an annotation")

    page.keyboard.press("2")  # bob's "rotten"
    expect(cands.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".rv-label", has_text="rotten")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("n")
    page.keyboard.type("the cast cannot save it")
    screenshot(page, "review")
    page.keyboard.press("Enter")

    expect(page.locator("#rv-item")).to_have_text(f"Item {items[2].pk}")
    first = Item.objects.get(pk=items[0].pk)
    assert (first.status, first.final_value, first.final_source, first.final_by_id) == (
        ItemStatus.DONE, {"label": "rotten"}, FinalSource.REVIEWER, rita.pk)
    decision = ReviewDecision.objects.get(item=first)
    assert (decision.reviewer_id, decision.value, decision.note) == (rita.pk, {"label": "rotten"},
                                                                     "the cast cannot save it")

    # Edit instead of accepting: a click on a label, then Enter; then the queue is empty.
    page.locator(".rv-label", has_text="fresh").click()
    expect(page.locator(".rv-cand").nth(1)).to_have_attribute("aria-pressed", "true")  # bob said fresh
    page.keyboard.press("Enter")
    expect(page.locator(".rv-done")).to_contain_text("Nothing to review")
    last = Item.objects.get(pk=items[2].pk)
    assert (last.status, last.final_value, last.final_source) == (ItemStatus.DONE, {"label": "fresh"},
                                                                  FinalSource.REVIEWER)
    assert ReviewDecision.objects.count() == 2

    # `?` shows the shortcuts.
    page.keyboard.press("?")
    expect(page.locator("#rv-help-dialog")).to_be_visible()


def test_a_value_the_server_refuses_shows_its_field_message(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [ann, bob], name="Review phrases", task_type="spans",
                           labels=["praise", "criticism"], overlap=2)
    [item] = make_items(project, 1)
    item.data = {"text": "Lovely photography, dreadful script."}
    item.save()
    submit_annotation(ann, item.pk, Submission(value={"spans": [{"start": 0, "end": 18, "label": "praise"}]}))
    submit_annotation(bob, item.pk, Submission(value={"spans": [{"start": 20, "end": 35, "label": "criticism"}]}))
    assert Item.objects.get(pk=item.pk).status == ItemStatus.IN_REVIEW

    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator(".rv-cand").nth(0)).to_contain_text("praise: “Lovely photography”")
    page.keyboard.press("1")
    page.fill("#rv-json", '{"spans": [{"start": 0, "end": 99, "label": "praise"}]}')
    page.keyboard.press("Control+Enter")
    expect(page.locator("#rv-error")).to_contain_text("value.spans[0].end")
    assert not ReviewDecision.objects.exists()

    page.fill("#rv-json", '{"spans": [{"start": 0, "end": 18, "label": "praise"}, '
                          '{"start": 20, "end": 35, "label": "criticism"}]}')
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rv-done")).to_be_visible()
    assert Item.objects.get(pk=item.pk).final_source == FinalSource.REVIEWER


def test_dashboard_draws_its_charts(page: Page, live_server, disputed):
    project, items, rita = disputed
    login(page, live_server.url, rita.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#queue-size")).to_have_text("2")
    screenshot(page, "dashboard")
