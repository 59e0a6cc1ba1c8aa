"""The import page in the browser: an admin drops or picks a file, chooses a CSV's columns, sees the
preview, imports with a progress bar and sees the summary; a bad line is named and nothing is imported."""
from __future__ import annotations

import os

import orjson
import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from tasks.models import Item, Job
from tests.conftest import make_project, make_user
from tests.ui.conftest import SCREENSHOTS, login

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

REVIEWS = [("great film, loved it", "pos"), ("dull and far too long", "neg"), ("a quiet delight", "pos")] * 9


def reviews_csv(n: int = 25) -> bytes:
    rows = ["id,review,stars,sentiment"] + [
        f'r{i},"{text}",{i % 5 + 1},{label}' for i, (text, label) in enumerate(REVIEWS[:n], start=1)]
    return ("\n".join(rows) + "\n").encode()


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("HITL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide", full_page=True)


def drop_file(page: Page, selector: str, name: str, content: bytes, mime: str) -> None:
    """A real drop event carrying the file, as a person dragging it from their desktop makes."""
    transfer = page.evaluate_handle(
        """([name, text, mime]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: mime}));
            return dt;
        }""", [name, content.decode(), mime])
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def progress_done(page: Page, selector: str) -> bool:
    return page.eval_on_selector(selector, "el => el.hasAttribute('value') && el.value === el.max && el.max > 0")


def open_import(page: Page, live_server, project) -> None:
    login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    expect(page.get_by_role("heading", name=f"{project.name}: import")).to_be_visible()
    expect(page.locator("#im-drop")).to_have_attribute("data-ready", "true")  # the page's script is listening


def test_admin_drops_a_csv_picks_its_columns_and_imports_it(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin, name="Reviews")
    open_import(page, live_server, project)

    drop_file(page, "#im-drop", "reviews.csv", reviews_csv(), "text/csv")
    # No "text" column: the first column is guessed, and the page asks the readers again with the picks.
    expect(page.locator("#im-text")).to_be_visible()
    page.select_option("#im-text", "review")
    page.select_option("#im-id", "id")
    page.select_option("#im-label", "sentiment")
    page.uncheck("#im-keep input[value=stars]")

    expect(page.locator("#im-format")).to_have_text("Read as CSV: the first 10 records (more follow).")
    rows = page.locator("#im-rows tr")
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_text("row 2r1great film, loved itgold: pos")
    expect(page.locator("#im-preview-error")).to_be_empty()
    assert Item.objects.count() == 0
    screenshot(page, "import")

    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("25 items imported.")
    assert progress_done(page, "#im-bytes")
    expect(page.get_by_role("link", name="Start labeling")).to_have_attribute("href", f"/projects/{project.pk}/label/")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()  # not twice by accident

    items = list(Item.objects.filter(project=project).order_by("id"))
    assert len(items) == 25
    assert (items[0].external_id, items[0].data, items[0].gold) == ("r1", {"text": "great film, loved it"},
                                                                    {"label": "pos"})
    assert (items[1].external_id, items[1].gold) == ("r2", {"label": "neg"})
    assert all(set(item.data) == {"text"} for item in items)


def test_a_bad_line_is_named_and_nothing_is_imported(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin)
    lines = [orjson.dumps({"text": f"review {i}", "external_id": f"r{i}"}) for i in range(1, 21)]
    lines[13] = b'{"txt": "no text here"}'  # line 14: past the preview's first ten
    path = "items.jsonl"
    open_import(page, live_server, project)

    page.set_input_files("#im-file", files=[{"name": path, "mimeType": "application/x-ndjson",
                                             "buffer": b"\n".join(lines) + b"\n"}])
    expect(page.locator("#im-format")).to_have_text("Read as JSON Lines: the first 10 records (more follow).")
    expect(page.locator("#im-columns")).to_be_hidden()
    page.get_by_role("button", name="Import", exact=True).click()

    error = page.locator("#im-error")
    expect(error).to_contain_text("Nothing was imported.")
    expect(error).to_contain_text("line 14")
    expect(error).to_contain_text("data.text")
    expect(page.locator("#im-status")).to_be_empty()
    assert Item.objects.count() == 0


def test_the_preview_names_a_bad_row_and_import_stays_off(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin)
    open_import(page, live_server, project)

    page.set_input_files("#im-file", files=[{"name": "items.csv", "mimeType": "text/csv",
                                             "buffer": b"text,external_id\nfine,a\n,b\n"}])
    expect(page.locator("#im-preview-error")).to_contain_text("row 3: data.text")
    expect(page.locator("#im-rows tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    assert Item.objects.count() == 0


def test_an_image_url_column_and_an_id_column_are_picked_by_name(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin, name="Pets", labels=["cat", "dog"])
    content = b'photo,source,external_id\n/media/a.png,web,x1\n/media/b.png,"farm, north",x2\n'
    open_import(page, live_server, project)

    page.set_input_files("#im-file", files=[{"name": "pets.csv", "mimeType": "text/csv", "buffer": content}])
    expect(page.locator("#im-id")).to_have_value("external_id")
    page.select_option("#im-text", "")
    page.select_option("#im-image", "photo")
    page.select_option("#im-id", "source")  # the old external_id column stays in the data, renamed
    expect(page.locator("#im-rows tr").first).to_have_text("row 2webimage: /media/a.png · external_id_original: x1—")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("2 items imported.")

    items = list(Item.objects.filter(project=project).order_by("id"))
    assert [(i.external_id, i.data) for i in items] == [
        ("web", {"image": "/media/a.png", "external_id_original": "x1"}),
        ("farm, north", {"image": "/media/b.png", "external_id_original": "x2"})]


@pytest.mark.worker
def test_a_large_import_runs_as_a_job_and_its_progress_shows(page: Page, live_server, worker, settings):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000  # this upload becomes a job for the worker
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin)
    body = b"".join(orjson.dumps({"text": f"review number {i}"}) + b"\n" for i in range(3000))
    open_import(page, live_server, project)

    # The keyboard: Enter and Space on the drop zone open the file picker. (Playwright's "filechooser"
    # event is missed now and then in headless Chromium, so the page's call to open it is counted instead.)
    page.evaluate("""() => {
        window.pickerOpened = 0;
        HTMLInputElement.prototype.showPicker = function () { if (this.id === "im-file") window.pickerOpened++; };
    }""")
    page.focus("#im-drop")
    page.keyboard.press("Enter")
    page.keyboard.press(" ")
    assert page.evaluate("() => window.pickerOpened") == 2
    page.set_input_files("#im-file", files=[{"name": "big.jsonl", "mimeType": "application/x-ndjson",
                                             "buffer": body}])
    expect(page.locator("#im-format")).to_contain_text("the first 10 records (more follow)")
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("3,000 items imported.", timeout=60000)
    assert progress_done(page, "#im-bytes") and progress_done(page, "#im-job")
    expect(page.locator("#im-job-text")).to_have_text("3,000 records read.")
    assert Job.objects.get().state == "succeeded"
    assert Item.objects.filter(project=project).count() == 3000


def test_an_ml_engineer_may_not_import(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    mel = make_user("mel", Role.ML_ENGINEER)
    project = make_project(admin, [mel])
    login(page, live_server.url, "mel")

    response = page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    assert response is not None and response.status == 403
