"""Pairwise preference in the browser: a / b / t keys, mouse, skip, undo."""
from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from annotations.models import Annotation
from models_registry.prelabel import prelabel
from models_registry.training import train
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.models_registry.preference_pairs import warmer_pairs
from tests.ui.conftest import stored

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

PAIRS = [
    ("How do I boil an egg?",
     "Put the egg in boiling water for 7 minutes, then cool it in cold water.",
     "Eggs are a good source of protein."),
    ("Translate 'merci' into English.", "Thank you.", "Thanks."),
    ("Write a haiku about rain.", "Rain taps the window / the kettle hums in answer / the cat stays indoors",
     "Rain is water falling from clouds."),
    ("What is 2 + 2?", "5", "4"),
    ("Name a prime number.", "9", "7"),
]


def test_annotator_compares_responses_by_key_and_mouse(labeler):
    admin = make_user("alice", Role.ADMIN)
    rita = make_user("rita", Role.REVIEWER)  # reviewers label too
    project = make_project(admin, [rita], name="Chatbot answers", task_type="pairwise", labels=[],
                           instructions="Pick the response that answers the prompt better; tie when equal.")
    items = [Item.objects.create(project=project, needed=1, data={"prompt": p, "a": a, "b": b}) for p, a, b in PAIRS]
    items[0].prediction = {"model_version": 1, "value": {"choice": "a"}, "confidence": 0.93}
    items[0].save()

    ui = labeler(rita, project)
    page = ui.page
    ui.expect_item(items[0])
    expect(page.locator(".lb-response[data-side=a]")).to_contain_text("7 minutes")
    expect(page.locator(".lb-response[data-side=b]")).to_contain_text("protein")
    expect(page.locator("#lb-suggestion")).to_contain_text("A is better")
    expect(page.locator("#lb-suggestion")).to_contain_text("93%")
    expect(page.locator(".lb-choice[data-choice=a]")).to_have_attribute("aria-pressed", "true")
    ui.screenshot("pairwise")
    ui.press("Enter")  # accept the suggestion

    ui.expect_item(items[1])
    ui.press("t", "Enter")
    ui.expect_item(items[2])
    page.click(".lb-choice[data-choice=b]")
    page.click(".lb-choice[data-choice=a]")
    page.click("#lb-submit")
    ui.expect_item(items[3])
    ui.press("a", "Enter")  # oops
    ui.expect_item(items[4])
    ui.press("Backspace")
    ui.expect_item(items[3])
    expect(page.locator(".lb-choice[data-choice=a]")).to_have_attribute("aria-pressed", "true")
    ui.press("b", "Enter")
    ui.expect_item(items[4])
    ui.press("s")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    rows = stored(rita)
    assert rows == [
        (items[0].pk, {"choice": "a"}, False),
        (items[1].pk, {"choice": "tie"}, False),
        (items[2].pk, {"choice": "a"}, False),
        (items[3].pk, {"choice": "b"}, False),
        (items[4].pk, None, True),
    ]
    ui.record_latency("pairwise")


def test_layout_fits_a_tablet_and_the_help_lists_the_keys(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Chatbot answers", task_type="pairwise", labels=[],
                           instructions="Pick the better response.")
    items = [Item.objects.create(project=project, needed=1, data={"prompt": p, "a": a, "b": b}) for p, a, b in PAIRS]
    ui = labeler(ann, project)
    page = ui.page
    page.set_viewport_size({"width": 800, "height": 1100})
    ui.expect_item(items[0])
    # Nothing sticks out sideways, and the actions are on screen without scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert page.locator("#lb-submit").bounding_box()["y"] + 44 <= 1100
    ui.press("?")
    dialog = page.locator("#lb-help-dialog")
    expect(dialog).to_be_visible()
    for key in ("a", "b", "t", "Enter", "s", "u", "?"):
        expect(dialog.locator("kbd", has_text=key).first).to_be_visible()
    ui.press("Escape")
    expect(dialog).to_be_hidden()
    page.click("#lb-instructions")  # one click away
    expect(page.locator("#lb-instructions-dialog")).to_contain_text("Pick the better response.")
    ui.press("Escape")
    expect(page.locator("#lb-instructions-dialog")).to_be_hidden()
    # The focus is back on the item, not on the Instructions button (where Enter would reopen it).
    page.wait_for_function("() => document.activeElement.id !== 'lb-instructions'")
    # Every action by keyboard: Tab walks the choices to the submit button, with a visible focus ring.
    page.locator(".lb-choice[data-choice=a]").focus()
    ui.press("Tab", "Tab")
    assert page.evaluate("document.activeElement.dataset.choice") == "b"
    ui.press("Space", "Tab")
    assert page.evaluate("document.activeElement.id") == "lb-submit"
    ring = page.evaluate("[getComputedStyle(document.activeElement).outlineStyle,"
                         " getComputedStyle(document.activeElement).outlineColor]")
    assert ring == ["solid", "rgb(180, 83, 9)"]  # 5:1 against the white page
    ui.press("Enter")
    ui.expect_item(items[1])
    ui.wait_saved()
    assert Annotation.objects.get(user=ann).value == {"choice": "b"}


def test_the_reward_models_suggestion_is_preselected_with_its_confidence(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Which review is warmer", task_type="pairwise", labels=[],
                           gold_rate=0.0, auto_accept_threshold=None, strategy="least_confidence")
    pairs = warmer_pairs(60, seed=7)
    Item.objects.bulk_create([Item(project=project, needed=1, data=p["data"], external_id=p["external_id"],
                                   **({"status": "done", "final_value": {"choice": p["meta_choice"]},
                                       "final_source": "gold", "final_at": timezone.now()} if n < 40 else {}))
                              for n, p in enumerate(pairs)])
    train(project)
    prelabel(project)
    queue = list(Item.objects.filter(project=project, status="queued").order_by("-priority", "id"))
    first, second = queue[0], queue[1]
    assert first.confidence <= second.confidence  # least confidence: the pairs closest to even first

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(first)  # the pair the model is least sure about
    suggested = first.prediction["value"]["choice"]
    sure = f"{round(first.prediction['scores'][suggested] * 100)}%"
    expect(page.locator("#lb-suggestion")).to_contain_text("A is better" if suggested == "a" else "B is better")
    expect(page.locator("#lb-suggestion")).to_contain_text(f"{round(first.prediction['confidence'] * 100)}% confident")
    expect(page.locator(f".lb-choice[data-choice={suggested}]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f".lb-choice[data-choice={suggested}] .lb-badge")).to_have_text(f"AI {sure}")
    expect(page.locator(".lb-badge")).to_have_count(1)
    ui.press("Enter")  # accept the suggestion

    ui.expect_item(second)
    ui.wait_saved()
    assert Annotation.objects.get(user=ann, item=first).value == {"choice": suggested}
