"""In a real browser (headless Chromium, tests/ui's set-up): payloads in an item, its labels, the project and
a username run nowhere on the labeling and review screens, and no page breaks its Content-Security-Policy."""
from __future__ import annotations

import os
import re

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from tasks.models import Item, ItemStatus  # noqa: E402
from tests.conftest import PASSWORD  # noqa: E402
from tests.security.test_escaping import payload_project  # noqa: E402
from tests.ui.conftest import browser_context_args, browser_type_launch_args  # noqa: E402, F401

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

EVIL_PASSWORD = "x-" * 8  # payload_project's user "eve<script>", a reviewer member

# Every payload sets window.__xss if it runs; CSP violations are collected as they happen.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


class Watch:
    def __init__(self, page: Page):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.set_default_timeout(8000)
        expect.set_options(timeout=8000)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.add_init_script(WATCH)

    def assert_clean(self) -> None:
        page = self.page
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert page.evaluate("window.__xss") is None, "a payload ran"
        injected = page.evaluate("""() => ({
          // Inline scripts: only a JSON config (inert) or the API docs' start script with the CSP nonce.
          scripts: [...document.querySelectorAll('script:not([src]):not([type="application/json"]):not([nonce])')]
            .length,
          handlers: [...document.querySelectorAll('*')].filter(
            (el) => [...el.attributes].some((a) => a.name.startsWith('on'))).map((el) => el.outerHTML.slice(0, 80)),
          images: document.querySelectorAll('img[src="x"]').length,
          svgs: document.querySelectorAll('svg[onload]').length,
        })""")
        assert injected == {"scripts": 0, "handlers": [], "images": 0, "svgs": 0}, injected
        assert page.evaluate("window.__csp") == [], "Content-Security-Policy violations"
        assert self.errors == [], f"script errors: {self.errors}"


def login(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_the_labeling_screen_shows_payloads_as_text(page: Page, live_server):
    admin, evil, project = payload_project()
    queued = Item.objects.get(project=project, status=ItemStatus.NEW)
    watch = Watch(page)

    login(page, live_server.url, evil.username, EVIL_PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")

    expect(page.locator("#lb-item")).to_have_text(re.compile(rf"^Item {queued.pk}\b"))
    expect(page.locator("#lb-stage")).to_contain_text("<img src=x onerror=")  # shown, as text
    expect(page.locator("#lb-stage")).to_contain_text("<script>window.__xss=1</script>")
    expect(page.locator(".lb-choice").first).to_contain_text("<img src=x")  # a label, as text
    expect(page.locator("header .who")).to_contain_text("eve<script>")
    page.keyboard.press("i")
    expect(page.locator("#lb-instructions-dialog")).to_contain_text("Read this <script>")
    page.keyboard.press("Escape")
    watch.assert_clean()


def test_the_review_screen_shows_payloads_as_text(page: Page, live_server):
    admin, evil, project = payload_project()
    in_review = Item.objects.get(project=project, status=ItemStatus.IN_REVIEW)
    watch = Watch(page)

    login(page, live_server.url, evil.username, EVIL_PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")

    expect(page.locator("#rv-item")).to_contain_text(str(in_review.pk))
    expect(page.locator("#rv-stage")).to_contain_text("review <script>window.__xss=1</script>")
    expect(page.locator("#rv-list")).to_contain_text("<img src=x onerror=")
    expect(page.locator("#rv-list")).to_contain_text("eve<script>")
    watch.assert_clean()


@pytest.mark.parametrize("path, ready", [
    ("/", ".project-row"),
    ("/projects/{pk}/dashboard/", "#chart-status svg"),
    ("/projects/{pk}/models/", "#chart-learning svg"),
    ("/projects/{pk}/settings/", "#band-predicted"),
    ("/api/docs/", ".swagger-ui .info"),  # Swagger UI, from static files, started by its nonce'd script
])
def test_pages_work_within_their_content_security_policy(page: Page, live_server, path, ready):
    admin, evil, project = payload_project()
    watch = Watch(page)

    login(page, live_server.url, admin.username, PASSWORD)
    page.goto(f"{live_server.url}{path.format(pk=project.pk)}")

    expect(page.locator(ready).first).to_be_visible()
    if "settings" in path:
        expect(page.locator("#band-predicted")).not_to_have_text("–")  # its script fetched the preview
    page.wait_for_load_state("networkidle")
    watch.assert_clean()
