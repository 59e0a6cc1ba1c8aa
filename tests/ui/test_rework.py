"""Feedback and rework in the browser: a reviewer rejects an annotation with a comment from the review
screen; its annotator finds the comment in their inbox, follows Rework to the labeling screen, sees the
comment above the item and labels it again."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from annotations.models import Annotation, Feedback, RetiredAnnotation
from annotations.services import Submission, submit_annotation
from audit.models import AuditEvent
from tasks.models import LABELABLE, Assignment, FinalSource, Item, ItemStatus, LeaseState
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

TEXTS = ["Yeah, right, a masterpiece. I checked my watch eleven times.",
         "A warm, clever film that trusts its audience."]
COMMENT = "Sarcasm: “a masterpiece” here means the opposite. See the guideline on irony."


@pytest.fixture
def disputed():
    """ann said fresh and bob rotten on a sarcastic review (in review); a second item waits for labels."""
    admin = make_user("alice", Role.ADMIN)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    rita = make_user("rita", Role.REVIEWER)
    project = make_project(admin, [ann, bob, rita], name="Movie reviews", labels=["fresh", "rotten"], overlap=2)
    items = make_items(project, 2)
    for item, text in zip(items, TEXTS, strict=True):
        item.data = {"text": text}
    Item.objects.bulk_update(items, ["data"])
    submit_annotation(ann, items[0].pk, Submission(value={"label": "fresh"}, lead_time=4.0))
    submit_annotation(bob, items[0].pk, Submission(value={"label": "rotten"}, lead_time=6.0))
    assert Item.objects.get(pk=items[0].pk).status == ItemStatus.IN_REVIEW
    return project, items, ann, bob, rita


def test_reviewer_rejects_and_the_annotator_reworks_from_the_inbox(page: Page, live_server, disputed):
    project, items, ann, bob, rita = disputed
    item = items[0]
    base = live_server.url

    # The reviewer: x then 1 opens the reject dialog for ann's annotation.
    login(page, base, rita.username)
    page.goto(f"{base}/projects/{project.pk}/review/")
    expect(page.locator("#rv-item")).to_have_text(f"Item {item.pk}")
    expect(page.locator(".rv-reject")).to_have_count(2)  # one per annotator, none for the model
    page.keyboard.press("x")
    page.keyboard.press("1")
    dialog = page.locator("#rv-reject-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#rv-reject-who")).to_have_text("ann")
    expect(page.locator("#rv-reject-value")).to_have_text("fresh")
    expect(page.locator("#rv-reject-comment")).to_be_focused()
    page.locator("#rv-reject-send").click()  # no comment yet: refused in place
    expect(page.locator("#rv-reject-error")).to_contain_text("comment")
    assert not Feedback.objects.exists()
    page.keyboard.type(COMMENT)
    expect(page.locator("input[name=rework_by][value=same]")).to_be_checked()
    page.keyboard.press("Control+Enter")

    expect(dialog).to_be_hidden()
    expect(page.locator("#rv-status")).to_contain_text("back to ann")
    feedback = Feedback.objects.get()
    assert (feedback.item_id, feedback.annotator, feedback.reviewer, feedback.rework_by, feedback.comment) == (
        item.pk, ann, rita, ann, COMMENT)
    retired = RetiredAnnotation.objects.get()
    assert (retired.user, retired.value, retired.reason) == (ann, {"label": "fresh"}, RetiredAnnotation.REJECTED)
    assert not Annotation.objects.filter(item=item, user=ann).exists()
    now = Item.objects.get(pk=item.pk)
    assert now.status in LABELABLE and now.annotation_count == 1
    assert Assignment.objects.get(item=item, user=ann).state == LeaseState.LEASED
    assert AuditEvent.objects.filter(action="annotation.rejected", user=rita, item_id=item.pk).exists()

    # The annotator: the header counts the unread feedback; the inbox shows it.
    page.context.clear_cookies()
    login(page, base, ann.username)
    expect(page.locator("#nav-inbox")).to_have_text("Inbox (1)")
    page.locator("#nav-inbox").click()
    page.wait_for_url(f"{base}/inbox/")
    entry = page.locator(f".inbox-entry[data-feedback='{feedback.pk}']")
    expect(entry).to_contain_text(COMMENT)
    expect(entry).to_contain_text(TEXTS[0])
    expect(entry.locator(".inbox-value")).to_have_text("Your value: fresh")
    expect(entry).to_contain_text("rita")
    expect(entry).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("#inbox-count")).to_have_text("1 unread of 1")
    screenshot(page, "inbox")

    entry.get_by_role("link", name="Rework").click()
    page.wait_for_url(f"{base}/projects/{project.pk}/label/")
    assert Feedback.objects.get().read_at is not None

    # The labeling screen serves the item first, with the comment above it.
    expect(page.locator("#lb-item")).to_have_text(re.compile(rf"^Item {item.pk}\b"))
    expect(page.locator("#lb-feedback")).to_be_visible()
    expect(page.locator("#lb-feedback")).to_contain_text(COMMENT)
    expect(page.locator("#lb-feedback")).to_contain_text("rita")
    page.keyboard.press("2")  # rotten
    page.keyboard.press("Enter")
    expect(page.locator("#lb-item")).to_have_text(re.compile(rf"^Item {items[1].pk}\b"))
    expect(page.locator("#lb-feedback")).to_be_hidden()  # the next item is no rework
    page.wait_for_function("() => window.hitl && hitl.state.outbox.length === 0 && !hitl.state.sending")

    redone = Annotation.objects.get(item=item, user=ann)
    assert redone.value == {"label": "rotten"} and redone.lead_time and redone.lead_time > 0
    done = Item.objects.get(pk=item.pk)
    assert (done.status, done.final_source, done.final_value) == (
        ItemStatus.DONE, FinalSource.CONSENSUS, {"label": "rotten"})
    assert Feedback.objects.get().reworked_at is not None

    page.goto(f"{base}/inbox/")
    expect(page.locator(".inbox-entry")).to_contain_text("Reworked")
    expect(page.locator("#nav-inbox")).to_have_text("Inbox (0)")


def test_reviewer_sends_an_annotation_back_to_anyone_with_the_button(page: Page, live_server, disputed):
    project, items, ann, bob, rita = disputed
    login(page, live_server.url, rita.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator("#rv-item")).to_have_text(f"Item {items[0].pk}")
    page.locator(".rv-reject").nth(1).click()
    expect(page.locator("#rv-reject-who")).to_have_text("bob")
    page.locator("#rv-reject-comment").fill("Too quick: read to the end.")
    page.locator("input[name=rework_by][value=anyone]").check()
    page.locator("#rv-reject-send").click()
    expect(page.locator("#rv-reject-dialog")).to_be_hidden()
    expect(page.locator("#rv-status")).to_contain_text("back to anyone")
    feedback = Feedback.objects.get()
    assert (feedback.annotator, feedback.rework_by_id, feedback.comment) == (bob, None, "Too quick: read to the end.")
    assert Assignment.objects.get(item=items[0], user=bob).state == LeaseState.SUBMITTED
