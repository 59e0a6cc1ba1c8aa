"""The export page in the browser: the form's GET to the API downloads the chosen format and items."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from accounts.models import Role
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project, make_user
from tests.ui.conftest import login

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_ml_engineer_downloads_done_items_as_jsonl(page: Page, live_server, tmp_path):
    admin = make_user("alice", Role.ADMIN)
    mel = make_user("mel", Role.ML_ENGINEER)
    project = make_project(admin, [mel])
    done = make_items(project, 2, status=ItemStatus.DONE, final_source=FinalSource.CONSENSUS,
                      final_value={"label": "pos"})
    make_items(project, 3)  # queued: left out
    login(page, live_server.url, mel.username)

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Export").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/export/")
    page.check('input[name=format][value=jsonl]')
    page.check('input[name=status][value=done]')
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename == f"project-{project.pk}.jsonl"
    path = tmp_path / "export.jsonl"
    download.save_as(path)

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item.pk for item in done)
    assert {line["status"] for line in lines} == {"done"}
    assert Item.objects.count() == 5
