"""The data browser in the browser: a reviewer filters (the URL keeps the filters), pages with the cursor,
and opens an item's history with the keyboard; what the page shows is checked against the database."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from annotations.models import Annotation, ReviewDecision
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.ui.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

WORDS = ["a boring film", "a wonderful story", "fine acting", "a dull and boring plot", "great fun"]


def shown_ids(page: Page) -> list[int]:
    return [int(x) for x in page.locator("#db-rows tr.db-row").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def wait_loaded(page: Page) -> None:
    page.wait_for_function("() => window.hitlData && document.body.dataset.loaded && !document.querySelector"
                           "('#db-status-line').textContent.startsWith('Loading')")


@pytest.fixture
def world():
    admin = make_user("alice", Role.ADMIN)
    rita = make_user("rita", Role.REVIEWER)
    ann, bob = make_user("ann", Role.ANNOTATOR), make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [rita, ann, bob], name="Movie reviews")
    now = timezone.now()
    items = Item.objects.bulk_create([Item(project=project, data={"text": f"{WORDS[i % 5]} #{i}"},
                                           external_id=f"r{i}") for i in range(65)])
    for i, item in enumerate(items):
        if i % 5 == 0:
            Item.objects.filter(pk=item.pk).update(
                status="done", final_value={"label": "neg" if i % 10 else "pos"}, final_source="consensus",
                final_at=now, annotation_count=2, confidence=0.42,
                prediction={"value": {"label": "pos"}, "confidence": 0.42, "model_version": 1})
            Annotation.objects.bulk_create([
                Annotation(project=project, item=item, user=ann, value={"label": "neg" if i % 10 else "pos"}),
                Annotation(project=project, item=item, user=bob, value={"label": "neg" if i % 10 else "pos"})])
        elif i % 5 == 3:
            Item.objects.filter(pk=item.pk).update(status="queued", confidence=0.81,
                                                   prediction={"value": {"label": "neg"}, "confidence": 0.81})
    decided = items[3]
    Item.objects.filter(pk=decided.pk).update(status="done", final_value={"label": "neg"}, final_source="reviewer",
                                              final_by=rita, final_at=now, annotation_count=2)
    Annotation.objects.bulk_create([Annotation(project=project, item=decided, user=ann, value={"label": "pos"}),
                                    Annotation(project=project, item=decided, user=bob, value={"label": "neg"})])
    ReviewDecision.objects.create(project=project, item=decided, reviewer=rita, value={"label": "neg"},
                                  reason="disagreement", note="plainly negative")
    return {"project": project, "items": [i.pk for i in items], "decided": decided.pk, "rita": rita}


def test_reviewer_filters_pages_and_opens_an_items_history(page: Page, live_server, world):
    project = world["project"]
    login(page, live_server.url, "rita")
    base = f"{live_server.url}/projects/{project.pk}/data/"
    page.goto(base)
    wait_loaded(page)
    all_ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    assert shown_ids(page) == all_ids[:50]
    expect(page.locator("#db-count")).to_have_text("65 items match")
    expect(page.locator("#db-prev")).to_be_disabled()

    # Next page, then back, with the buttons and the keyboard.
    page.click("#db-next")
    expect(page.locator("#db-rows tr.db-row")).to_have_count(15)
    assert shown_ids(page) == all_ids[50:]
    assert f"after={all_ids[49]}" in page.url
    expect(page.locator("#db-next")).to_be_disabled()
    page.keyboard.press("p")
    expect(page.locator("#db-rows tr.db-row")).to_have_count(50)
    assert shown_ids(page) == all_ids[:50]

    # Filters: a status from the list applies at once; the search applies on Enter; the URL keeps both.
    page.select_option("#db-status", "done")
    done = list(Item.objects.filter(project=project, status="done").order_by("id").values_list("id", flat=True))
    expect(page.locator("#db-rows tr.db-row")).to_have_count(len(done))
    assert shown_ids(page) == done
    page.keyboard.press("/")
    expect(page.locator("#db-q")).to_be_focused()
    page.keyboard.type("boring")
    page.keyboard.press("Enter")
    boring_done = [i for i in done if "boring" in Item.objects.get(pk=i).data["text"]]
    expect(page.locator("#db-rows tr.db-row")).to_have_count(len(boring_done))
    assert shown_ids(page) == boring_done and world["decided"] in boring_done
    assert re.search(r"status=done", page.url) and re.search(r"q=boring", page.url)
    # A reload (or a shared link) shows the same view.
    page.reload()
    wait_loaded(page)
    expect(page.locator("#db-status")).to_have_value("done")
    expect(page.locator("#db-q")).to_have_value("boring")
    assert shown_ids(page) == boring_done

    # The row of the decided item says what the database says.
    row = page.locator(f'#db-rows tr.db-row[data-id="{world["decided"]}"]')
    expect(row.locator(".db-final")).to_have_text("neg")
    expect(row).to_contain_text("reviewer")
    screenshot(page, "data-browser")

    # Keyboard: focus the first row, move down to the decided item, Enter opens its history.
    page.locator("#db-rows tr.db-row").first.focus()
    position = boring_done.index(world["decided"])
    for _ in range(position):
        page.keyboard.press("ArrowDown")
    expect(row).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.locator("#db-history")
    expect(dialog).to_be_visible()
    expect(page.locator("#db-history-title")).to_have_text(f"Item {world['decided']} · r3")
    expect(page.locator("#db-h-final")).to_have_text("neg · reviewer")
    events = page.locator("#db-events li")
    annotations = list(Annotation.objects.filter(item_id=world["decided"]).order_by("created_at", "id")
                       .values_list("user__username", flat=True))
    expect(events.filter(has_text="annotation")).to_have_count(len(annotations))
    shown = events.filter(has_text="annotation").locator(".db-who").all_inner_texts()
    assert shown == annotations
    expect(events.filter(has_text="plainly negative")).to_contain_text("rita")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row).to_be_focused()

    # Clicking a row opens it too.
    other = page.locator("#db-rows tr.db-row").first
    other_id = int(other.get_attribute("data-id"))
    other.click()
    expect(page.locator("#db-history-title")).to_have_text(re.compile(rf"^Item {other_id}\b"))
    page.click("#db-history-close")


def test_a_bad_filter_in_the_url_is_named_and_an_annotator_is_turned_away(page: Page, live_server, world):
    project = world["project"]
    login(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/projects/{project.pk}/data/?annotator=99999")
    expect(page.locator("#db-status-line")).to_have_text("annotator: No such user.")
    expect(page.locator("#db-annotator")).to_have_attribute("aria-invalid", "true")

    page.context.clear_cookies()
    login(page, live_server.url, "ann")
    response = page.goto(f"{live_server.url}/projects/{project.pk}/data/")
    assert response.status == 403
