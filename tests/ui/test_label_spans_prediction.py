"""The spans model in the browser: its predicted spans are pre-selected with their confidence; the
annotator accepts them with Enter, or removes, relabels and adds spans before submitting."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from models_registry import artifacts
from models_registry.backends.spans import SpansBackend
from models_registry.models import ModelVersion
from models_registry.prelabel import prelabel
from tasks.models import Item
from tests.conftest import make_project, make_user
from tests.models_registry import ner
from tests.ui.conftest import stored
from tests.ui.test_label_spans import drag_select

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

TEXTS = ["Zadie Smith met officials from Spotify in Reykjavik.",
         "Chimamanda Adichie flew from Accra to Montreal for the meeting."]


def active_spans_model(project) -> ModelVersion:
    """A CRF fitted on news-like sentences, stored and made the project's active version."""
    sentences = ner.sentences(200, seed=1)
    model = SpansBackend("spans", ner.LABELS).fit([{"text": t} for t, _ in sentences], [s for _, s in sentences])
    relative = artifacts.relative_path(project.pk, 1)
    digest = artifacts.save(model, relative)
    return ModelVersion.objects.create(project=project, version=1, backend=SpansBackend.name, labels=ner.LABELS,
                                       artifact=relative, artifact_sha256=digest, active=True)


def chip_texts(page) -> list[str]:
    return [t.replace("\u00d7", "").strip() for t in page.locator(".lb-span-chip").all_inner_texts()]


def test_predicted_spans_are_pre_selected_with_their_confidence_and_can_be_edited(labeler):
    admin = make_user("alice", Role.ADMIN)
    ann = make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [ann], name="Entities", task_type="spans", labels=ner.LABELS, overlap=1,
                           auto_accept_threshold=None, escalation_threshold=None, audit_rate=0.0,
                           strategy="sequential")
    items = [Item.objects.create(project=project, needed=1, data={"text": t}) for t in TEXTS]
    active_spans_model(project)
    prelabel(project)  # what the pre-label job does after a training
    first, second = (Item.objects.get(pk=i.pk).prediction for i in items)
    assert len(first["value"]["spans"]) >= 2 and len(second["value"]["spans"]) >= 3, (first, second)

    ui = labeler(ann, project)
    page = ui.page
    ui.expect_item(items[0])
    # Every predicted span is marked in the text and listed with the model's confidence in it.
    expect(page.locator("mark.lb-span[data-label]")).to_have_count(len(first["value"]["spans"]))
    expect(page.locator("mark.lb-span-ai[data-conf]")).to_have_count(len(first["value"]["spans"]))
    text = TEXTS[0]
    expected = [f"{s['label']} “{text[s['start']:s['end']]}” AI {round(s['score'] * 100)}%"
                for s in first["scores"]["spans"]]
    assert chip_texts(page) == expected
    expect(page.locator("#lb-suggestion")).to_contain_text(f"{round(first['confidence'] * 100)}% confident")
    ui.screenshot("spans-predicted")
    ui.press("Enter")  # accept the model's spans as they are

    ui.expect_item(items[1])
    spans = second["scores"]["spans"]
    text = TEXTS[1]
    assert [text[s["start"]:s["end"]] for s in spans[:3]] == ["Chimamanda Adichie", "Accra", "Montreal"]
    expect(page.locator(".lb-span-chip .lb-badge")).to_have_count(len(spans))
    page.click("mark.lb-span:has-text('Accra')")  # remove a predicted span
    drag_select(page, text, "Montreal", "Montreal")  # relabel one: it becomes the annotator's, without a badge
    ui.press("3")
    expect(page.locator("mark.lb-span[data-label=ORG]")).to_have_text("Montreal")
    page.locator(".lb-span-text").focus()
    ui.press("End", "ArrowLeft")  # "meeting", marked by keyboard
    expect(page.locator(".lb-pending")).to_have_text("meeting")
    ui.press("2")
    chips = chip_texts(page)
    assert chips[0].startswith("PER “Chimamanda Adichie” AI ")
    assert chips[1:] == ["ORG “Montreal”", "LOC “meeting”"]
    ui.press("Enter")
    expect(page.locator(".lb-done")).to_be_visible()
    ui.wait_saved()

    def at(word: str, label: str) -> dict:
        return {"start": text.index(word), "end": text.index(word) + len(word), "label": label}

    assert stored(ann) == [
        (items[0].pk, first["value"], False),
        (items[1].pk, {"spans": [at("Chimamanda Adichie", "PER"), at("Montreal", "ORG"), at("meeting", "LOC")]},
         False),
    ]
