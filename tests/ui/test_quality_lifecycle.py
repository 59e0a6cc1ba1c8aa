"""The quality lifecycle in the browser: a new annotator's quiz with the right answer after each item,
a pause shown on the labeling screen, and an admin un-pausing from the dashboard."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tasks.models import Item, Standing, StandingState
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import login, screenshot, stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_a_new_annotator_passes_the_quiz_seeing_each_right_answer_and_the_guideline(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], labels=["fresh", "rotten"], qualification_items=2,
                           qualification_pass=0.5, gold_rate=0.0,
                           instructions="**Rotten**: the critic did not like the film.")
    Item.objects.bulk_create([
        Item(project=project, data={"text": text}, gold={"label": label}, status="done",
             final_value={"label": label}, final_source="gold", needed=1)
        for text, label in [("Two hours I will never get back.", "rotten"), ("A minor miracle.", "fresh")]])
    regular = make_items(project, 2)
    gold = list(Item.objects.filter(gold__isnull=False).order_by("id"))

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(gold[0])
    ui.press("1", "Enter")  # "fresh": wrong
    dialog = page.locator("#quiz-feedback")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("Not quite.")
    expect(dialog.locator(".quiz-answer")).to_contain_text("rotten")
    expect(dialog.locator(".quiz-guideline strong")).to_have_text("Rotten")
    expect(dialog.locator(".quiz-standing")).to_contain_text("1 of 2 quiz items answered, 0 right")
    screenshot(page, "quiz-feedback")
    ui.press("Enter")  # closes the dialog
    expect(dialog).to_be_hidden()

    ui.expect_item(gold[1])
    ui.press("1", "Enter")  # "fresh": right
    expect(dialog.locator("h2")).to_have_text("Right.")
    expect(dialog.locator(".quiz-standing")).to_contain_text("You passed")
    ui.press("Escape")
    ui.expect_item(regular[0])
    ui.wait_saved()
    assert Standing.objects.get(user=ann).state == StandingState.ACTIVE
    assert [(item, value) for item, value, _ in stored(ann)] == [(gold[0].pk, {"label": "fresh"}),
                                                                  (gold[1].pk, {"label": "fresh"})]


def test_a_paused_annotator_is_told_why_and_an_admin_unpauses_them_from_the_dashboard(labeler, browser, live_server):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], accuracy_floor=0.5)
    make_items(project, 3)
    Standing.objects.create(project=project, user=ann, state=StandingState.PAUSED, gold_answered=8, gold_correct=1,
                            pause_reason="gold accuracy 1/8 is below the project's floor of 50% (95% upper bound 47%).")

    ui = labeler(ann, project)
    expect(ui.page.locator(".lb-stage [role=alert]")).to_contain_text("You are paused in this project")
    expect(ui.page.locator(".lb-stage [role=alert]")).to_contain_text("below the project's floor of 50%")

    admin_context = browser.new_context()
    page = admin_context.new_page()
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    expect(page.locator("#paused-notice")).to_contain_text("1 annotator stopped: ann (paused)")
    row = page.locator(f'tr.standing[data-user="{ann.pk}"]')
    expect(row).to_contain_text("1/8")
    screenshot(page, "annotator-standing")
    row.get_by_role("button", name="Un-pause").click()
    expect(page.locator(f'tr.standing[data-user="{ann.pk}"]')).to_contain_text("active")
    admin_context.close()
    assert Standing.objects.get(user=ann).state == StandingState.ACTIVE
