"""The review screen in the browser: annotators disagree, a reviewer takes one of their values by number or
corrects it with the labeling widget the annotators use, and decides."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from annotations.models import ReviewDecision
from annotations.services import Submission, submit_annotation
from tasks.models import FinalSource, Item, ItemStatus, Project
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import SCREENSHOTS, login, media_png
from tests.ui.test_label_boxes import Canvas, H, W, assert_boxes

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

    page.keyboard.press("2")  # bob's "rotten", shown in the labeling widget
    expect(cands.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#rv-stage .lb-choice[data-label=rotten]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#rv-stage .lb-choice[data-label=fresh]")).to_have_attribute("aria-pressed", "false")
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

    # Edit instead of accepting: a click on a label in the widget, then Enter; then the queue is empty.
    page.locator("#rv-stage .lb-choice[data-label=fresh]").click()
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


def test_reviewer_corrects_a_label_with_the_widget_keys(page: Page, live_server, disputed):
    project, items, rita = disputed
    Project.objects.filter(pk=project.pk).update(labels=["fresh", "rotten", "mixed"])
    login(page, live_server.url, rita.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator("#rv-item")).to_have_text(f"Item {items[0].pk}")
    cands = page.locator(".rv-cand")
    choice = page.locator("#rv-stage .lb-choice")

    page.keyboard.press("1")  # ann's "fresh", pre-filled in the widget
    expect(choice.and_(page.locator("[data-label=fresh]"))).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("e")  # into the widget: the number keys are its label keys now
    expect(page.locator(".rv-hint-edit")).to_be_visible()
    page.keyboard.press("3")
    expect(choice.and_(page.locator("[data-label=mixed]"))).to_have_attribute("aria-pressed", "true")
    expect(page.locator('.rv-cand[aria-pressed="true"]')).to_have_count(0)  # a value nobody gave
    page.keyboard.press("2")  # "rotten": bob's value (and the model's), so his candidate lights up
    expect(cands.nth(1)).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("3")
    page.keyboard.press("Enter")

    expect(page.locator("#rv-item")).to_have_text(f"Item {items[2].pk}")
    decided = Item.objects.get(pk=items[0].pk)
    assert (decided.status, decided.final_value, decided.final_source) == (
        ItemStatus.DONE, {"label": "mixed"}, FinalSource.REVIEWER)
    assert ReviewDecision.objects.get(item=decided).value == {"label": "mixed"}

    # The next item starts with the list again: a number picks a candidate, Esc leaves the widget.
    expect(page.locator(".rv-hint-pick")).to_be_visible()
    page.keyboard.press("e")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # bob's "fresh"
    expect(cands.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(choice.and_(page.locator("[data-label=fresh]"))).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    expect(page.locator(".rv-done")).to_be_visible()
    assert Item.objects.get(pk=items[2].pk).final_value == {"label": "fresh"}


@pytest.fixture
def phrases():
    """A spans project where ann marks the praise and bob the criticism: the item goes to review."""
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
    return project, item, admin


def test_reviewer_adds_a_span_to_an_annotators_value(page: Page, live_server, phrases):
    project, item, admin = phrases
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator(".rv-cand").nth(0)).to_contain_text("praise: “Lovely photography”")

    page.keyboard.press("1")  # ann's praise span, marked in the text
    expect(page.locator("#rv-stage mark.lb-span")).to_have_text("Lovely photography")
    page.keyboard.press("e")  # the text has the focus: select words with the keys, as an annotator does
    page.keyboard.press("End")  # "."
    page.keyboard.press("ArrowLeft")  # "script"
    page.keyboard.press("Shift+ArrowLeft")  # "dreadful script"
    page.keyboard.press("2")  # criticism
    expect(page.locator("#rv-stage mark.lb-span")).to_have_count(2)
    expect(page.locator('.rv-cand[aria-pressed="true"]')).to_have_count(0)
    page.keyboard.press("Enter")

    expect(page.locator(".rv-done")).to_be_visible()
    both = {"spans": [{"start": 0, "end": 18, "label": "praise"}, {"start": 20, "end": 35, "label": "criticism"}]}
    decided = Item.objects.get(pk=item.pk)
    assert (decided.final_value, decided.final_source) == (both, FinalSource.REVIEWER)
    assert ReviewDecision.objects.get(item=decided).value == both


def test_a_value_the_server_refuses_shows_its_field_message(page: Page, live_server, phrases):
    project, item, admin = phrases
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator(".rv-cand")).to_have_count(2)
    # Meanwhile another admin drops the label "praise" from the project.
    Project.objects.filter(pk=project.pk).update(labels=["criticism"])

    page.keyboard.press("1")  # ann's praise span
    page.keyboard.press("Enter")
    expect(page.locator("#rv-stage .lb-span-list")).to_contain_text("value.spans[0].label: unknown label 'praise'")
    expect(page.locator("#rv-status")).to_contain_text("does not fit")
    assert not ReviewDecision.objects.exists()

    page.keyboard.press("2")  # bob's criticism fits
    expect(page.locator("#rv-stage .lb-span-list .error")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator(".rv-done")).to_be_visible()
    decided = Item.objects.get(pk=item.pk)
    assert (decided.final_value, decided.final_source) == (
        {"spans": [{"start": 20, "end": 35, "label": "criticism"}]}, FinalSource.REVIEWER)


def test_reviewer_draws_a_missing_box(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [ann, bob], name="Street scenes", task_type="boxes", labels=["car", "person"],
                           overlap=2)
    item = Item.objects.create(project=project, needed=2, data={
        "image": media_png("ui/review-scene.png", size=(W, H), color=(60, 60, 190), rect=(20, 30, 80, 90))})
    submit_annotation(ann, item.pk, Submission(value={"boxes": [{"x": 20, "y": 30, "w": 60, "h": 60, "label": "car"}]}))
    submit_annotation(bob, item.pk, Submission(value={"boxes": [{"x": 100, "y": 20, "w": 80, "h": 40,
                                                                 "label": "person"}]}))
    assert Item.objects.get(pk=item.pk).status == ItemStatus.IN_REVIEW

    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator(".rv-cand")).to_have_count(2)
    page.keyboard.press("1")  # ann's car
    expect(page.locator("#rv-stage .lb-canvas .lb-box")).to_have_count(1)
    page.locator("#rv-stage .lb-viewport").scroll_into_view_if_needed()
    canvas = Canvas(page)
    canvas.drag(100, 20, 180, 60)  # with the mouse, as an annotator draws: the widget has the keys now
    expect(page.locator("#rv-stage .lb-canvas .lb-box")).to_have_count(2)
    page.keyboard.press("2")  # relabels the box just drawn (it is selected): person
    page.keyboard.press("Enter")

    expect(page.locator(".rv-done")).to_be_visible()
    decided = Item.objects.get(pk=item.pk)
    assert decided.final_source == FinalSource.REVIEWER
    assert_boxes(decided.final_value["boxes"], [{"x": 20, "y": 30, "w": 60, "h": 60, "label": "car"},
                                                {"x": 100, "y": 20, "w": 80, "h": 40, "label": "person"}])
    assert ReviewDecision.objects.get(item=decided).value == decided.final_value


def test_reviewer_settles_a_pairwise_item_with_the_choice_keys(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [ann, bob], name="Chatbot answers", task_type="pairwise", labels=[], overlap=2)
    [item] = make_items(project, 1)
    item.data = {"prompt": "Name a prime.", "a": "Seven.", "b": "Nine."}
    item.save()
    submit_annotation(ann, item.pk, Submission(value={"choice": "a"}))
    submit_annotation(bob, item.pk, Submission(value={"choice": "b"}))
    assert Item.objects.get(pk=item.pk).status == ItemStatus.IN_REVIEW

    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator("#rv-stage .lb-pair")).to_contain_text("Seven.")
    page.keyboard.press("2")  # bob: B is better
    expect(page.locator("#rv-stage .lb-choice[data-choice=b]")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("t")  # the widget's own key, as on the labeling screen: a tie, which nobody said
    expect(page.locator("#rv-stage .lb-choice[data-choice=tie]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator('.rv-cand[aria-pressed="true"]')).to_have_count(0)
    page.keyboard.press("a")  # ann's value again
    expect(page.locator(".rv-cand").nth(0)).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")

    expect(page.locator(".rv-done")).to_be_visible()
    assert Item.objects.get(pk=item.pk).final_value == {"choice": "a"}
    assert ReviewDecision.objects.get().value == {"choice": "a"}


def test_dashboard_draws_its_charts(page: Page, live_server, disputed):
    project, items, rita = disputed
    login(page, live_server.url, rita.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#queue-size")).to_have_text("2")
    screenshot(page, "dashboard")
