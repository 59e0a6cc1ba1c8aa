"""The models page in the browser, with the real Celery worker: Retrain now shows the job's progress
and then the new version; Make active and Roll back switch the serving version in one action."""
from __future__ import annotations

import os
import random

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from models_registry.models import LabelIssue, ModelVersion
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus, Job
from tests.conftest import make_project, make_user
from tests.ui.conftest import SCREENSHOTS, login

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, reset_sequences=True)]

FRESH = ["wonderful", "moving", "brilliant", "funny", "tender", "gripping", "superb", "delightful"]
ROTTEN = ["dull", "tedious", "clumsy", "boring", "awful", "lifeless", "muddled", "dreary"]
PLANTED = 3  # fresh reviews labelled rotten: label errors for the model to find
SLOW = 60_000  # ms: a training, its pre-labeling and a reload, on a busy test machine

# Records every state the jobs panel shows, across reloads, so a test can tell what the person saw.
RECORDER = """
window.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("jobs");
  if (!list) return;
  const note = () => {
    const log = JSON.parse(sessionStorage.getItem("seen-jobs") || "[]");
    for (const li of list.querySelectorAll("li.job")) {
      const bar = li.querySelector("progress");
      log.push({job: Number(li.dataset.job), kind: li.dataset.kind, state: li.dataset.state,
                value: bar.hasAttribute("value") ? bar.value : null, max: bar.max});
    }
    sessionStorage.setItem("seen-jobs", JSON.stringify(log));
  };
  note();
  new MutationObserver(note).observe(list, {subtree: true, childList: true, attributes: true, characterData: true});
});
"""


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("HITL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide", full_page=True)


@pytest.fixture
def reviews():
    """80 film reviews with human final labels (the first few deliberately wrong), 10 still to label."""
    admin = make_user("alice", Role.ADMIN)
    mel = make_user("mel", Role.ML_ENGINEER)
    project = make_project(admin, [mel], name="Movie reviews", labels=["fresh", "rotten"])
    rng = random.Random(7)
    now = timezone.now()
    items = []
    for i in range(90):
        fresh = i % 2 == 0
        a, b, c = rng.sample(FRESH if fresh else ROTTEN, 3)
        item = Item(project=project, data={"text": f"A {a}, {b} film; {c} from the first scene."})
        if i < 80:
            label = "rotten" if fresh and i < 2 * PLANTED else ("fresh" if fresh else "rotten")
            item.status, item.final_source, item.final_at = ItemStatus.DONE, FinalSource.CONSENSUS, now
            item.final_value = {"label": label}
        items.append(item)
    Item.objects.bulk_create(items)
    return project, mel


def open_models(page: Page, base: str, user, project) -> None:
    login(page, base, user.username)
    page.goto(f"{base}/projects/{project.pk}/models/")


def version_row(page: Page, number: int):
    return page.locator(f'#versions tr.version[data-version="{number}"]')


def test_retrain_now_shows_the_job_progress_and_then_the_new_version(page: Page, live_server, worker, reviews):
    project, mel = reviews
    page.add_init_script(RECORDER)
    open_models(page, live_server.url, mel, project)
    expect(page.locator("#no-versions")).to_be_visible()
    expect(page.locator("#jobs-empty")).to_be_visible()

    page.get_by_role("button", name="Retrain now").click()
    expect(page.locator("#models-status")).to_contain_text("Training job")
    job = Job.objects.get(project=project, kind="train")
    expect(page.locator(f'li.job[data-job="{job.pk}"]')).to_be_visible()

    # The job finishes, the page reloads by itself and shows the new version, active.
    expect(version_row(page, 1)).to_be_visible(timeout=SLOW)
    expect(version_row(page, 1).locator(".badge-active")).to_have_text("active")
    expect(page.locator("#models-status")).to_contain_text("made version 1, now active")
    done = page.locator(f'li.job[data-job="{job.pk}"]')
    expect(done).to_have_attribute("data-state", "succeeded")
    expect(done.locator(".job-note")).to_contain_text("Version 1: first")

    # What the panel showed of the training, in order: unfinished first, then full.
    seen = [e for e in page.evaluate("() => JSON.parse(sessionStorage.getItem('seen-jobs'))") if e["job"] == job.pk]
    assert seen[0]["state"] in ("pending", "running"), seen
    assert seen[-1]["state"] == "succeeded" and seen[-1]["value"] == seen[-1]["max"], seen
    values = [e["value"] / e["max"] for e in seen if e["value"] is not None and e["max"]]
    assert values == sorted(values), seen  # the bar only moves forward

    # The activation's pre-labeling is polled live and finishes without another reload.
    prelabel = page.locator('li.job[data-kind="prelabel"]')
    expect(prelabel).to_have_count(1)
    expect(prelabel).to_have_attribute("data-state", "succeeded", timeout=SLOW)
    expect(prelabel.locator(".job-note")).to_contain_text("Scored 10 items with version 1")

    # The inspected version's figures are on the page.
    expect(page.locator("#inspected")).to_have_attribute("data-version", "1")
    for chart in ("#chart-learning svg", "#chart-calibration svg", "#chart-confusion svg"):
        expect(page.locator(chart)).to_be_visible()
    expect(page.locator("#per-class tbody tr")).to_have_count(2)
    mv = ModelVersion.objects.get(project=project)
    assert (mv.version, mv.active, mv.trigger) == (1, True, "manual")
    issues = list(LabelIssue.objects.filter(model_version=mv).values_list("item_id", flat=True))
    expect(page.locator("#issues tbody tr")).to_have_count(len(issues))
    if issues:
        expect(page.locator("#issues tbody tr").first).to_have_attribute("data-item", str(issues[0]))
    screenshot(page, "models")

    # Again without new labels: the job is skipped and says why; no version is added.
    page.get_by_role("button", name="Retrain now").click()
    skipped = page.locator("li.job").first
    expect(skipped.locator(".job-note")).to_contain_text("Skipped: No new labels since version 1", timeout=SLOW)
    expect(page.locator("#versions tr.version")).to_have_count(1)


def test_make_active_brings_back_an_older_version_and_roll_back_undoes_it(page: Page, live_server, worker, reviews):
    project, mel = reviews
    train(project, user=mel)
    train(project, user=mel, force=True)  # the same labels again: as good, so it takes over
    assert list(ModelVersion.objects.filter(project=project, active=True).values_list("version", flat=True)) == [2]

    open_models(page, live_server.url, mel, project)
    expect(version_row(page, 2).locator(".badge-active")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back to version 1")).to_be_visible()
    page.get_by_role("button", name="Make version 1 active").click()

    expect(version_row(page, 1).locator(".badge-active")).to_be_visible()
    expect(page.locator("#models-status")).to_contain_text("Version 1 is active")
    expect(version_row(page, 2).get_by_role("button", name="Make version 2 active")).to_be_visible()
    assert ModelVersion.objects.get(project=project, active=True).version == 1

    page.get_by_role("button", name="Roll back to version 2").click()
    expect(version_row(page, 2).locator(".badge-active")).to_be_visible()
    expect(page.locator("#models-status")).to_contain_text("Rolled back: version 2 is active again")
    assert ModelVersion.objects.get(project=project, active=True).version == 2
