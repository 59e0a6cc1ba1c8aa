"""`/metrics`: Prometheus' exposition of the platform's state (read from the database at scrape time) and of
django-prometheus' request metrics, for admins and for a scraper holding HITL_METRICS_TOKEN only."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from annotations.models import Annotation
from ops.metrics import first_id_since
from tasks.models import Assignment, Item, ItemStatus, Job, JobState, ReviewReason
from tests.conftest import client_for, make_project

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} of a successful scrape."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.content.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def make_items(project, n: int, needed: int | None = None, **fields) -> list[Item]:
    """Like tests.conftest.make_items, with a `needed` of one's own (escalated items)."""
    return Item.objects.bulk_create([Item(project=project, data={"text": f"text {i}"},
                                          needed=needed or project.overlap, **fields) for i in range(n)])


def value(samples, sample: str, /, **labels) -> float:
    return samples[sample][tuple(sorted(labels.items()))]


@pytest.fixture
def world(admin, annotator, annotator2, reviewer):
    """Two projects with items in every band and status, annotations old and new, and jobs (one failed)."""
    now = timezone.now()
    first = make_project(admin, [annotator, annotator2, reviewer], name="Reviews", overlap=1)
    second = make_project(admin, [annotator], name="Tickets", overlap=2, escalated_overlap=4)
    make_items(first, 3, status=ItemStatus.QUEUED)  # normal
    make_items(first, 2, status=ItemStatus.NEW)  # normal, not scored yet
    make_items(first, 2, status=ItemStatus.QUEUED, needed=2)  # escalated (overlap 1)
    make_items(first, 1, status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.AUDIT)
    make_items(first, 2, status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT)
    make_items(first, 4, status=ItemStatus.AUTO_ACCEPTED, final_source="model")
    done = make_items(first, 3, status=ItemStatus.DONE, final_source="consensus")
    make_items(second, 2, status=ItemStatus.QUEUED)  # normal: needs 2 = overlap
    escalated = make_items(second, 3, status=ItemStatus.QUEUED, needed=4)
    make_items(second, 1, status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.ESCALATED)

    for item, who in ((done[0], annotator), (done[1], annotator), (done[2], annotator2), (done[0], reviewer)):
        Annotation.objects.create(project=first, item=item, user=who, value={"label": "pos"})
    Annotation.objects.create(project=first, item=done[1], user=annotator2, skipped=True)
    old = Annotation.objects.create(project=first, item=done[2], user=reviewer, value={"label": "neg"})
    Annotation.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    Annotation.objects.create(project=second, item=escalated[0], user=annotator, value={"label": "pos"})
    Assignment.objects.create(project=second, item=escalated[1], user=annotator, leased_at=now,
                              expires_at=now + timedelta(minutes=10))
    Assignment.objects.create(project=second, item=escalated[2], user=annotator, leased_at=now - timedelta(hours=1),
                              expires_at=now - timedelta(minutes=50))  # expired: holds no place

    def job(kind, state, seconds=None, project=first):
        started = now - timedelta(minutes=30) if seconds is not None else None
        return Job.objects.create(kind=kind, project=project, state=state, started_at=started,
                                  finished_at=started + timedelta(seconds=seconds) if seconds is not None else None)

    job("train", JobState.SUCCEEDED, 3)
    job("train", JobState.SUCCEEDED, 40)
    job("train", JobState.FAILED, 0.5)
    job("import", JobState.SUCCEEDED, 7200, project=second)
    pending = job("prelabel", JobState.PENDING)
    Job.objects.filter(pk=pending.pk).update(created_at=now - timedelta(minutes=5))
    return first, second


def test_the_metrics_match_the_database(admin, world):
    first, second = world
    p1, p2 = str(first.pk), str(second.pk)
    m = scrape(client_for(admin))

    assert value(m, "hitl_project_info", project=p1, name="Reviews") == 1
    assert value(m, "hitl_project_info", project=p2, name="Tickets") == 1
    # Items by status.
    for project, status, n in ((p1, "new", 2), (p1, "queued", 5), (p1, "in_review", 3), (p1, "auto_accepted", 4),
                               (p1, "done", 3), (p2, "queued", 5), (p2, "in_review", 1), (p2, "done", 0)):
        assert value(m, "hitl_items", project=project, status=status) == n, (project, status)
    # What waits for people, by band.
    for project, band, n in ((p1, "normal", 5), (p1, "escalated", 2), (p1, "review", 3),
                             (p2, "normal", 2), (p2, "escalated", 3), (p2, "review", 1)):
        assert value(m, "hitl_queue_depth", project=project, band=band) == n, (project, band)
    assert value(m, "hitl_review_depth", project=p1, reason="audit") == 1
    assert value(m, "hitl_review_depth", project=p1, reason="disagreement") == 2
    assert value(m, "hitl_review_depth", project=p1, reason="escalated") == 0
    assert value(m, "hitl_review_depth", project=p2, reason="escalated") == 1
    assert value(m, "hitl_open_leases", project=p2) == 1
    assert value(m, "hitl_open_leases", project=p1) == 0
    # Labels per hour: the one from two hours ago and the skip do not count as labels.
    assert value(m, "hitl_annotations_last_hour", project=p1) == 4
    assert value(m, "hitl_annotations_last_hour", project=p2) == 1
    assert value(m, "hitl_skips_last_hour", project=p1) == 1
    # Jobs: counts by state, failures, and the duration histogram of the finished ones.
    assert value(m, "hitl_jobs", kind="train", state="succeeded") == 2
    assert value(m, "hitl_jobs", kind="train", state="failed") == 1
    assert value(m, "hitl_jobs", kind="prelabel", state="pending") == 1
    assert value(m, "hitl_jobs", kind="import", state="running") == 0
    assert value(m, "hitl_job_failures_total", kind="train") == 1
    assert value(m, "hitl_job_failures_total", kind="import") == 0
    assert value(m, "hitl_job_duration_seconds_count", kind="train") == 3
    assert value(m, "hitl_job_duration_seconds_sum", kind="train") == pytest.approx(43.5)
    assert value(m, "hitl_job_duration_seconds_bucket", kind="train", le="1.0") == 1
    assert value(m, "hitl_job_duration_seconds_bucket", kind="train", le="5.0") == 2
    assert value(m, "hitl_job_duration_seconds_bucket", kind="train", le="60.0") == 3
    assert value(m, "hitl_job_duration_seconds_bucket", kind="train", le="+Inf") == 3
    assert value(m, "hitl_job_duration_seconds_bucket", kind="import", le="3600.0") == 0
    assert value(m, "hitl_job_duration_seconds_bucket", kind="import", le="14400.0") == 1
    assert value(m, "hitl_job_duration_seconds_count", kind="prelabel") == 0  # registered kind, none finished
    assert 290 < value(m, "hitl_oldest_pending_job_seconds") < 400
    assert value(m, "hitl_metrics_database_ok") == 1


def test_the_metrics_follow_changes(admin, world):
    first, _ = world
    before = value(scrape(client_for(admin)), "hitl_queue_depth", project=str(first.pk), band="review")
    Item.objects.filter(project=first, status=ItemStatus.IN_REVIEW).update(status=ItemStatus.DONE)
    after = scrape(client_for(admin))
    assert before == 3
    assert value(after, "hitl_queue_depth", project=str(first.pk), band="review") == 0
    assert value(after, "hitl_items", project=str(first.pk), status="done") == 6


def test_a_scrape_takes_a_fixed_number_of_queries(admin, world, django_assert_max_num_queries, annotator):
    client = client_for(admin)
    scrape(client)
    with django_assert_max_num_queries(30) as few:  # no query per project: more projects, same count
        scrape(client)
    for n in range(5):
        make_items(make_project(admin, [annotator], name=f"more {n}"), 3, status=ItemStatus.QUEUED)
    with django_assert_max_num_queries(len(few.captured_queries) + 2):
        scrape(client)


def test_request_latencies_appear_after_requests(admin, world):
    client = client_for(admin)
    for _ in range(3):
        assert client.get("/api/projects/").status_code == 200
    m = scrape(client)
    latency = m["django_http_requests_latency_seconds_by_view_method_count"]
    assert latency[(("method", "GET"), ("view", "api-projects"))] >= 3
    assert any(key for key in m["django_http_responses_total_by_status_view_method_total"]
               if dict(key) == {"status": "200", "view": "api-projects", "method": "GET"})


def test_labels_per_hour_find_the_first_recent_annotation(admin, annotator, world):
    first, _ = world
    now = timezone.now()
    rows = list(Annotation.objects.order_by("pk"))
    # Make the first half old, in id order as the database writes them.
    for i, a in enumerate(rows):
        Annotation.objects.filter(pk=a.pk).update(created_at=now - timedelta(hours=5 - i) if i < 3 else now)
    assert first_id_since(Annotation, now - timedelta(hours=1)) == rows[3].pk
    assert first_id_since(Annotation, now - timedelta(hours=3, minutes=30)) == rows[2].pk
    assert first_id_since(Annotation, now + timedelta(seconds=1)) is None
    Annotation.objects.all().delete()
    assert first_id_since(Annotation, now) is None


# --- who may scrape -------------------------------------------------------------------------------------


def test_only_admins_scrape_without_a_metrics_token(admin, annotator, reviewer, ml_engineer, world):
    assert client_for(admin).get("/metrics").status_code == 200
    for user in (annotator, reviewer, ml_engineer):
        r = client_for(user).get("/metrics")
        assert r.status_code == 403
        assert b"Reviews" not in r.content
    r = Client().get("/metrics")
    assert r.status_code == 401 and b"Reviews" not in r.content and b"hitl_" not in r.content
    # A bearer token means nothing while no metrics token is configured.
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 401


def test_an_admin_session_or_api_token_scrapes(admin, world):
    browser = Client()
    browser.force_login(admin)
    assert b"hitl_queue_depth" in browser.get("/metrics").content
    key = Token.objects.create(user=admin).key
    r = Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {key}")
    assert r.status_code == 200 and b"hitl_queue_depth" in r.content


def test_the_metrics_token_lets_a_scraper_in(settings, admin, annotator, world):
    settings.HITL_METRICS_TOKEN = "scrape-me-7c1f"
    r = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-7c1f")
    assert r.status_code == 200 and b'hitl_project_info{name="Reviews"' in r.content
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-7c1e")
    assert wrong.status_code == 401 and b"Reviews" not in wrong.content
    assert wrong["WWW-Authenticate"] == "Bearer"
    assert Client().get("/metrics").status_code == 401
    assert client_for(annotator).get("/metrics").status_code == 403
    assert client_for(admin).get("/metrics").status_code == 200  # admins still can


def test_openmetrics_when_asked_for(admin, world):
    r = client_for(admin).get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/openmetrics-text")
    assert r.content.rstrip().endswith(b"# EOF")


def test_multiprocess_mode_adds_up_every_web_process(admin, world, tmp_path, monkeypatch):
    # Two web server processes that each counted requests into the shared directory.
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", f"from prometheus_client import Counter; "
                        f"Counter('hitl_test_requests', 'test', ['view']).labels('x').inc({n})"],
                       env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    m = scrape(client_for(admin))
    assert value(m, "hitl_test_requests_total", view="x") == 5
    assert value(m, "hitl_queue_depth", project=str(world[0].pk), band="review") == 3  # and the database's


def test_metrics_and_readiness_are_not_redirected_to_https(settings, admin):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/readyz/?skip=workers").status_code in (200, 503)
    assert Client().get("/login/").status_code == 301
