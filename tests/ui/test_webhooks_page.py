"""The webhooks page in the browser: an admin adds a hook, reads its secret, and sees a delivery with
its attempts."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role
from tests.conftest import make_project, make_user
from tests.ui.conftest import login, screenshot
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_admin_adds_a_webhook_and_reads_its_secret(page: Page, live_server):
    admin = make_user("alice", Role.ADMIN)
    project = make_project(admin)
    login(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Webhooks").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/webhooks/")

    page.fill("#webhook-url", "https://example.org/hitl")
    page.locator('#add-webhook input[value="job.finished"]').uncheck()
    page.click("#add-webhook button[type=submit]")
    section = page.locator("section.webhook")
    expect(section).to_contain_text("https://example.org/hitl")
    hook = Webhook.objects.get(project=project)
    assert hook.url == "https://example.org/hitl" and "job.finished" not in hook.events
    assert "decision.made" in hook.events

    section.get_by_role("button", name="Show secret").click()
    expect(page.locator(f"#secret-{hook.pk}")).to_contain_text(hook.secret)
    screenshot(page, "webhooks")
