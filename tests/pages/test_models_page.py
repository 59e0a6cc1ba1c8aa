"""The models page: versions side by side, learning curve, calibration, per-class figures, confusion,
likely label errors, the jobs panel, and who may open it."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from models_registry.models import LabelIssue, ModelVersion
from tasks.models import Item, Job, JobState
from tests.conftest import browser, make_items, make_project

pytestmark = pytest.mark.django_db


def scores(accuracy: float, macro_f1: float, ece: float = 0.05) -> dict:
    return {
        "accuracy": accuracy, "macro_f1": macro_f1, "ece": ece, "test_size": 20, "evaluated_on": "holdout",
        "per_class": {"pos": {"precision": 0.9, "recall": 0.81, "support": 12},
                      "neg": {"precision": 0.7, "recall": 0.875, "support": 8}},
        "confusion": {"labels": ["pos", "neg"], "matrix": [[10, 2], [1, 7]]},
        "calibration": [{"lower": 0.5, "upper": 0.6, "count": 5, "confidence": 0.56, "accuracy": 0.6},
                        {"lower": 0.6, "upper": 0.7, "count": 0, "confidence": None, "accuracy": None},
                        {"lower": 0.9, "upper": 1.0, "count": 15, "confidence": 0.95, "accuracy": 0.93}],
    }


def version(project, number: int, **fields) -> ModelVersion:
    fields.setdefault("metrics", scores(0.7 + number / 100, 0.6 + number / 100))
    return ModelVersion.objects.create(project=project, version=number, backend="text-tfidf-logreg",
                                       labels=["pos", "neg"], **fields)


@pytest.fixture
def versions(project):
    """v1 served first, v2 serves now, v3 waits (it scored worse than v2)."""
    now = timezone.now()
    v1 = version(project, 1, train_size=40, holdout_size=10, trigger="manual", label_counts={"pos": 22, "neg": 18},
                 activated_at=now - timedelta(hours=2),
                 decision={"outcome": "first", "reason": "No version was active."})
    v2 = version(project, 2, train_size=80, holdout_size=20, trigger="labels", label_counts={"pos": 45, "neg": 35},
                 active=True, activated_at=now - timedelta(hours=1),
                 decision={"outcome": "activated", "reason": "Held-out accuracy 0.7200 against 0.7100 of version 1."})
    v3 = version(project, 3, train_size=120, holdout_size=30, trigger="schedule", metrics=scores(0.65, 0.6),
                 decision={"outcome": "waiting", "reason": "Held-out accuracy 0.6500 is below version 2's 0.7200."})
    return v1, v2, v3


@pytest.fixture
def issues(project, versions):
    """Two likely label errors of the active version (v2)."""
    v2 = versions[1]
    first, second = make_items(project, 2)
    Item.objects.filter(pk=first.pk).update(data={"text": "A <b>delight</b> from start to finish."},
                                            external_id="rt-17")
    LabelIssue.objects.create(model_version=v2, item=second, rank=2, given={"label": "pos"},
                              suggested={"label": "neg"}, given_probability=0.2, suggested_confidence=0.8)
    LabelIssue.objects.create(model_version=v2, item=first, rank=1, given={"label": "neg"},
                              suggested={"label": "pos"}, given_probability=0.003, suggested_confidence=0.997)
    return first, second


def page(user, project, query: str = "") -> str:
    r = browser(user).get(f"/projects/{project.pk}/models/{query}")
    assert r.status_code == 200, r.status_code
    return r.content.decode()


def rows(html: str, table_id: str) -> list[str]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr.*?</tr>", body, re.S)


@pytest.mark.parametrize("who", ["ml_engineer", "admin"])
def test_ml_engineers_and_admins_see_every_version_with_its_metrics_side_by_side(request, who, project, versions):
    html = page(request.getfixturevalue(who), project)
    table = rows(html, "versions")
    assert [re.search(r'data-version="(\d+)"', r).group(1) for r in table] == ["3", "2", "1"]
    v3, v2, v1 = table
    assert "0.650" in v3 and "schedule" in v3 and "120" in v3 and "waiting" in v3 and "below version 2" in v3
    assert "0.720" in v2 and "0.620" in v2 and "labels" in v2 and "80" in v2
    assert "0.710" in v1 and "manual" in v1
    # The active one says so; every other usable one has a button to make it active.
    assert "badge-active" in v2 and "data-activate" not in v2
    assert f'data-activate="{versions[2].pk}"' in v3 and f'data-activate="{versions[0].pk}"' in v1
    assert 'aria-label="Make version 1 active"' in v1
    # Rolling back brings back v1, the one active before v2; v3 never served.
    assert 'id="rollback" data-version="1"' in html and "Roll back to version 1" in html
    assert 'id="retrain-now"' in html and "js/models.js" in html


def test_the_active_version_is_inspected_with_its_charts_and_per_class_figures(ml_engineer, project, versions):
    html = page(ml_engineer, project)
    assert 'id="inspected" data-version="2"' in html
    assert html.count("<svg") == 3
    assert 'id="chart-learning"' in html and 'id="chart-calibration"' in html and 'id="chart-confusion"' in html
    # The learning curve has a point per version and series, labelled by version, in version order.
    learning = re.search(r'id="chart-learning">(.*?)</figure>', html, re.S).group(1)
    assert re.findall(r'class="point-label"[^>]*>(v\d)<', learning) == ["v1", "v2", "v3"]
    assert re.findall(r'data-x="([\d.]+)"', learning)[:3] == ["40.0", "80.0", "120.0"]
    # Calibration: the two filled bins, and the diagonal.
    calibration = re.search(r'id="chart-calibration".*?</figure>', html, re.S).group(0)
    assert calibration.count('class="bin"') == 2 and 'class="diagonal"' in calibration
    per_class = rows(html, "per-class")
    assert len(per_class) == 2
    assert "pos" in per_class[0] and "0.900" in per_class[0] and "0.810" in per_class[0] and "45" in per_class[0]
    assert "neg" in per_class[1] and "0.875" in per_class[1] and "35" in per_class[1]
    # The confusion matrix (rows: human, columns: model) and its mistakes, most frequent first.
    confusion = re.search(r'id="chart-confusion">(.*?)</figure>', html, re.S).group(1)
    assert re.findall(r'data-count="(\d+)"', confusion) == ["10", "2", "1", "7"]
    assert "human pos, model neg: 2" in confusion
    mistakes = rows(html, "mistakes")
    assert ["<td>pos</td><td>neg</td>" in mistakes[0], "<td>neg</td><td>pos</td>" in mistakes[1]] == [True, True]


def test_likely_label_errors_of_the_active_version_are_listed_best_first_and_escaped(ml_engineer, project, issues):
    first, second = issues
    html = page(ml_engineer, project)
    listed = rows(html, "issues")
    assert [re.search(r'data-item="(\d+)"', r).group(1) for r in listed] == [str(first.pk), str(second.pk)]
    top = listed[0]
    assert "rt-17" in top and "&lt;b&gt;delight&lt;/b&gt;" in top and "<b>delight" not in html
    assert '<td class="given">neg</td>' in top and '<td class="suggested">pos</td>' in top
    assert "&lt;1%" in top and "&gt;99%" in top
    assert "text 1" in listed[1] and "20%" in listed[1] and "80%" in listed[1]


def test_another_version_can_be_inspected_by_its_number(ml_engineer, project, versions, issues):
    html = page(ml_engineer, project, "?version=1")
    assert 'id="inspected" data-version="1"' in html
    assert re.search(r'<tr class="version" data-version="1" aria-current="true">', html)
    assert 'id="no-issues"' in html  # v2's issues are not v1's
    assert '<option value="1" selected>' in html


@pytest.mark.parametrize("query", ["?version=99", "?version=abc"])
def test_a_version_the_project_does_not_have_is_a_404(ml_engineer, project, versions, query):
    assert browser(ml_engineer).get(f"/projects/{project.pk}/models/{query}").status_code == 404


def test_the_jobs_panel_shows_progress_state_trigger_and_why_a_job_failed_or_was_skipped(ml_engineer, project):
    running = Job.objects.create(
        kind="train", project=project, state=JobState.RUNNING, progress=2, total=5,
        params={"trigger": "manual", "triggers": [{"trigger": "manual"}, {"trigger": "labels"}]})
    Job.objects.create(kind="train", project=project, state=JobState.FAILED,
                       error="Training needs labeled items.", params={"trigger": "schedule"})
    Job.objects.create(kind="train", project=project, state=JobState.SUCCEEDED, progress=0,
                       result={"skipped": True, "reason": "No new labels since version 3."})
    Job.objects.create(kind="prelabel", project=project, state=JobState.PENDING)
    Job.objects.create(kind="import", project=project, state=JobState.RUNNING)  # not a model job
    html = page(ml_engineer, project)
    jobs = re.findall(r'<li class="job".*?</li>', html, re.S)
    assert len(jobs) == 4
    pending, skipped, failed, run = jobs  # newest first
    assert "Pre-labeling job" in pending and 'data-state="pending"' in pending and "Waiting for a worker." in pending
    assert "<progress" in pending and "value=" not in pending  # indeterminate
    assert "Skipped: No new labels since version 3." in skipped
    assert 'class="job-note error">Training needs labeled items.' in failed and "schedule" in failed
    assert f'id="job-{running.pk}-title"' in run and 'max="5" value="2"' in run and "2 / 5" in run
    assert "manual, labels (2 requests)" in run
    assert 'aria-live="polite"' in html


def test_a_project_without_versions_offers_the_first_training(ml_engineer, project):
    html = page(ml_engineer, project)
    assert 'id="no-versions"' in html and 'id="retrain-now"' in html
    assert "<svg" not in html and 'id="rollback"' not in html and 'id="jobs-empty">' in html


def test_a_project_the_builtin_model_cannot_train_says_why_instead_of_offering_retrain(admin, ml_engineer):
    external = make_project(admin, [ml_engineer], model_backend="http", model_endpoint="http://127.0.0.1:9/")
    html = page(ml_engineer, external)
    assert 'id="retrain-now"' not in html and 'id="train-blocked"' in html and "external model" in html


def test_an_unusable_version_cannot_be_made_active(ml_engineer, project, versions):
    ModelVersion.objects.filter(pk=versions[0].pk).update(corrupt=True, error="The stored model file is missing.")
    html = page(ml_engineer, project)
    v1 = rows(html, "versions")[2]
    assert "unusable" in v1 and "The stored model file is missing." in v1 and "data-activate" not in v1
    assert 'id="rollback"' not in html  # v1 was the only one to go back to


def test_image_items_are_previewed_and_only_plain_image_urls_are_used(ml_engineer, project, versions):
    ok, bad = make_items(project, 2)
    Item.objects.filter(pk=ok.pk).update(data={"image": "/media/digits/7.png"})
    Item.objects.filter(pk=bad.pk).update(data={"image": "javascript:alert(1)"})
    for rank, item in enumerate((ok, bad), start=1):
        LabelIssue.objects.create(model_version=versions[1], item=item, rank=rank, given={"label": "pos"},
                                  suggested={"label": "neg"}, given_probability=0.1, suggested_confidence=0.9)
    html = page(ml_engineer, project)
    assert f'src="/media/digits/7.png" alt="Image of item {ok.pk}"' in html
    assert 'src="javascript' not in html and html.count('class="issue-img"') == 1


@pytest.mark.parametrize("who", ["annotator", "reviewer"])
def test_annotators_and_reviewers_get_403(request, who, project, versions):
    r = browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/models/")
    assert r.status_code == 403
    assert b"see models" in r.content


def test_outsiders_and_unknown_projects_get_403(outsider, ml_engineer, project):
    assert browser(outsider).get(f"/projects/{project.pk}/models/").status_code == 403
    assert browser(ml_engineer).get("/projects/999999/models/").status_code == 403


def test_the_models_page_needs_a_login(project):
    r = Client().get(f"/projects/{project.pk}/models/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_home_and_dashboard_link_the_models_page_for_ml_engineers_and_admins_only(project, ml_engineer, admin,
                                                                                  annotator, reviewer):
    link = f'href="/projects/{project.pk}/models/"'
    for user in (ml_engineer, admin):
        assert link in browser(user).get("/").content.decode()
        assert link in browser(user).get(f"/projects/{project.pk}/dashboard/").content.decode()
    for user in (annotator, reviewer):
        assert link not in browser(user).get("/").content.decode()
        assert link not in browser(user).get(f"/projects/{project.pk}/dashboard/").content.decode()
