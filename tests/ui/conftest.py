"""Browser tests of the labeling screen: headless Debian Chromium driven by Playwright.

Playwright's own browser download is not used; `/usr/bin/chromium` is. Its sync API runs an
event loop in the test thread, hence DJANGO_ALLOW_ASYNC_UNSAFE for the ORM calls the tests make.
Screenshots for the docs are written to docs/screenshots/ when HITL_SCREENSHOTS=1.
"""
from __future__ import annotations

import math
import os
import re
import statistics
import time
from pathlib import Path

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from annotations.models import Annotation  # noqa: E402
from tests.conftest import PASSWORD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("HITL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Same pixels on every run, for the screenshots in docs/.
                 "--font-render-hinting=none", "--force-color-profile=srgb", "--disable-lcd-text",
                 "--num-raster-threads=1", "--disable-partial-raster"]

# submit -> next item shown, as measured by the page itself (see core.js `metrics`).
LATENCIES: dict[str, list[dict]] = {}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}, "locale": "en-US",
            "timezone_id": "UTC", "reduced_motion": "reduce"}


@pytest.fixture(autouse=True)
def _short_timeouts(page: Page):
    # A broken screen should fail in seconds, not after Playwright's 30 s default.
    page.set_default_timeout(8000)
    expect.set_options(timeout=8000)


def screenshot(page: Page, name: str) -> None:
    """docs/screenshots/<name>.png of the page as it is, when HITL_SCREENSHOTS=1."""
    if os.environ.get("HITL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide")


def login(page: Page, base: str, username: str) -> None:
    """Log in through the real form, as a person would."""
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


class Labeler:
    """The labeling screen of one project, seen by one logged-in user."""

    def __init__(self, page: Page, base: str, project):
        self.page = page
        self.base = base
        self.project = project

    def open(self) -> Labeler:
        self.page.goto(f"{self.base}/projects/{self.project.pk}/label/")
        return self

    def expect_item(self, item) -> None:
        expect(self.page.locator("#lb-item")).to_have_text(re.compile(rf"^Item {item.pk}\b"))

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)

    def status(self):
        return self.page.locator("#lb-status")

    def wait_saved(self) -> None:
        """Until every submission made on the page is stored on the server."""
        self.page.wait_for_function("() => window.hitl && hitl.state.outbox.length === 0 && !hitl.state.sending")

    def wait_prefetched(self) -> None:
        """Until the next item is in (as it is for a person, who reads the item meanwhile)."""
        self.page.wait_for_function("() => hitl.state.ahead.length > 0 || hitl.state.exhausted")

    def latencies(self) -> list[dict]:
        """Submit -> next item painted for every screen change on this page so far: [{painted (ms),
        prefetched (the next item was already in)}]."""
        return self.page.evaluate("() => hitl.metrics.submitToShown")

    def record_latency(self, name: str) -> list[dict]:
        values = self.latencies()
        LATENCIES.setdefault(name, []).extend(values)
        return values

    def screenshot(self, name: str) -> None:
        screenshot(self.page, name)


@pytest.fixture
def labeler(page: Page, live_server):
    """`labeler(user, project)` logs the user in and opens the project's labeling screen."""

    def open_as(user, project) -> Labeler:
        login(page, live_server.url, user.username)
        return Labeler(page, live_server.url, project).open()

    yield open_as
    _leave(page)


def _leave(page: Page) -> None:
    """Leave the labeling screen while the test's database still stands. Its pagehide hands back the items it
    prefetched (a keep-alive request); left to the page's own teardown, which comes after the database is
    emptied, that request raced the flush's TRUNCATE and deadlocked with it (seen once in a full run). Waits
    until no other session of the database is busy (at most 5 s)."""
    page.goto("about:blank")
    if connection.vendor != "postgresql":
        return
    deadline, quiet = time.monotonic() + 5, 0
    while quiet < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                           "AND state IN ('active', 'idle in transaction')")
            quiet = quiet + 1 if cursor.fetchone()[0] == 0 else 0
        time.sleep(0.05)


def stored(user) -> list[tuple]:
    """Every annotation in the database as (item id, value, skipped), in item order, after
    checking that they are all `user`'s and all carry a lead time."""
    rows = list(Annotation.objects.order_by("item_id"))
    assert [a.user_id for a in rows] == [user.pk] * len(rows), "annotations by someone else"
    assert all(a.lead_time is not None and a.lead_time > 0 for a in rows), [a.lead_time for a in rows]
    return [(a.item_id, a.value, a.skipped) for a in rows]


def media_png(relpath: str, size=(64, 48), color=(200, 60, 60), rect=None) -> str:
    """Write a small PNG under MEDIA_ROOT and return its URL (as data.image)."""
    from PIL import Image, ImageDraw

    path = Path(settings.MEDIA_ROOT) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (245, 245, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle(rect or (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4), fill=color)
    img.save(path)
    return f"{settings.MEDIA_URL}{relpath}"


def _summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    s = sorted(values)
    return f"n={len(s)} median={statistics.median(s):.1f} p90={s[math.ceil(0.9 * len(s)) - 1]:.1f} max={s[-1]:.1f}"


def pytest_terminal_summary(terminalreporter):
    if not LATENCIES:
        return
    terminalreporter.section("labeling screen: submit -> next item painted, ms, measured in the browser")
    for name, ms in LATENCIES.items():
        terminalreporter.write_line(f"{name}:")
        prefetched = [m["painted"] for m in ms if m["prefetched"]]
        waited = [m["painted"] for m in ms if not m["prefetched"]]
        terminalreporter.write_line(f"    next item prefetched:          {_summary(prefetched)}")
        terminalreporter.write_line(f"    waited for `next` (keys fast): {_summary(waited)}")
