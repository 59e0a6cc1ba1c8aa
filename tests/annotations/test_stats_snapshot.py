"""Big projects' statistics: a snapshot computed by a job, live counts, `freshness`, sampling, the sweep.

The size threshold is lowered (setting HITL_STATS_SNAPSHOT_ANNOTATIONS) so a handful of annotations
takes the path a project with millions takes.
"""
from __future__ import annotations

import pytest

from accounts.models import Role
from annotations import stats, stats_snapshot
from annotations.models import Annotation, StatsSnapshot
from tasks.models import Item, Job
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db
LABELS = ["pos", "neg", "neutral"]


@pytest.fixture
def crowd(admin):
    return [make_user(f"c{k}", Role.ANNOTATOR) for k in range(4)]


@pytest.fixture
def big(admin, crowd, settings):
    """A project with 30 items x 3 annotations, some final values and gold, above a threshold of 20."""
    settings.HITL_STATS_SNAPSHOT_ANNOTATIONS = 20
    project = make_project(admin, crowd, labels=LABELS, overlap=3)
    for i, item in enumerate(make_items(project, 30)):
        truth = LABELS[i % 3]
        fields = {"final_value": {"label": truth}, "final_source": "consensus"} if i % 2 else {}
        if i % 5 == 0:
            fields["gold"] = {"label": truth}
        if fields:
            Item.objects.filter(pk=item.pk).update(**fields)
        for k in range(3):
            user = crowd[(i + k) % 4]
            said = truth if (i + k) % 4 else LABELS[(i + 1) % 3]  # one annotator in four errs
            Annotation.objects.create(project=project, item=item, user=user, value={"label": said}, lead_time=2.0)
    return project


def get_stats(user, project):
    response = client_for(user).get(f"/api/projects/{project.pk}/stats/")
    assert response.status_code == 200, response.content
    return response.json()


def snapshot_jobs(project):
    return Job.objects.filter(project=project, kind=stats_snapshot.STATS_SNAPSHOT)


def without_freshness(body):
    return {k: v for k, v in body.items() if k not in ("freshness", "sample")}


def test_a_small_project_is_computed_live(project, annotator, annotator2):
    for item in make_items(project, 3):
        for user in (annotator, annotator2):
            Annotation.objects.create(project=project, item=item, user=user, value={"label": "pos"})
    body = get_stats(annotator, project)
    assert body["freshness"]["state"] == "live" and body["freshness"]["sample"] is None
    assert not snapshot_jobs(project).exists() and not StatsSnapshot.objects.exists()


def test_a_big_project_asks_for_one_snapshot_and_shows_live_figures_meanwhile(big, crowd):
    body = get_stats(crowd[0], big)
    assert body["freshness"]["state"] == "computing" and body["freshness"]["refresh"] == "requested"
    assert body["items"] == 30 and body["counts"]["new"] == 30 and body["agreement"] is None
    assert body["review_queue"]["size"] == 0 and body["annotators"] == []
    again = get_stats(crowd[1], big)
    assert again["freshness"]["refresh"] == "pending"
    assert snapshot_jobs(big).count() == 1, "one snapshot job at a time"


def test_the_snapshot_gives_the_same_figures_as_the_live_computation(big, crowd):
    get_stats(crowd[0], big)
    job = snapshot_jobs(big).get()
    stats_snapshot.run_job(job)
    stats_snapshot.run_job(job)  # a redelivered message changes nothing
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["annotations"] == 90

    body = get_stats(crowd[0], big)
    fresh = body["freshness"]
    assert fresh["state"] == "snapshot" and fresh["annotations_covered"] == 90 and fresh["new_annotations"] == 0
    assert fresh["refresh"] is None and fresh["computed_at"]
    assert set(fresh["live"]) == {"items", "counts", "review_queue", "model"}
    assert {"agreement", "annotators", "confusion", "truth_inference", "routing"} <= set(fresh["snapshot"])
    # Fewer items than SAMPLE_ITEMS: the sample is every item, and the figures are exact.
    assert fresh["sample"]["items"] == 30 and fresh["sample"]["share"] == 1.0
    exact = stats.project_stats(big)
    assert without_freshness(body) == without_freshness(exact)
    assert body["agreement"]["krippendorff_alpha"] is not None and len(body["agreement"]["cohen_kappa"]) == 6


def test_counts_review_queue_and_model_stay_live_while_the_rest_is_a_snapshot(big, crowd):
    stats_snapshot.refresh(big)
    first = Item.objects.filter(project=big).order_by("id").first()
    Item.objects.filter(pk=first.pk).update(status="in_review", review_reason="escalated")
    body = get_stats(crowd[0], big)
    assert body["counts"]["in_review"] == 1 and body["counts"]["new"] == 29
    assert body["review_queue"]["size"] == 1 and body["review_queue"]["by_reason"]["escalated"] == 1


def test_enough_new_annotations_ask_for_a_refresh(big, crowd, monkeypatch):
    monkeypatch.setattr(stats_snapshot, "MIN_NEW", 2)
    monkeypatch.setattr(stats_snapshot, "STALE_SHARE", 0.01)
    stats_snapshot.refresh(big)
    [item] = make_items(big, 1)
    Annotation.objects.create(project=big, item=item, user=crowd[0], value={"label": "pos"})
    body = get_stats(crowd[0], big)
    assert body["freshness"]["new_annotations"] == 1 and body["freshness"]["refresh"] is None
    assert body["annotations"] == 90  # the snapshot's figure until the next one
    Annotation.objects.create(project=big, item=item, user=crowd[1], value={"label": "pos"})
    body = get_stats(crowd[0], big)
    assert body["freshness"]["new_annotations"] == 2 and body["freshness"]["refresh"] == "requested"
    stats_snapshot.run_job(snapshot_jobs(big).get())
    body = get_stats(crowd[0], big)
    assert body["annotations"] == 92 and body["freshness"]["new_annotations"] == 0


def test_the_sample_keeps_counts_and_annotator_figures_exact(big):
    full = stats.compute(big)
    sampled = stats.compute(big, sample_items=10)
    sample = sampled["sample"]
    assert 0 < sample["items"] < 30 and sample["of_items"] == 30 and sample["share"] == pytest.approx(1 / 3, abs=1e-6)
    assert sample["ratings"] == 3 * sample["items"]
    for key in ("counts", "annotations", "annotators", "confusion", "routing", "review_queue"):
        assert sampled[key] == full[key], key
    assert sampled["agreement"]["overlapping_items"] == sample["items"]


def test_the_sample_hash_spreads_over_consecutive_ids():
    cutoff = (1 << 32) // 10
    chosen = [i for i in range(1, 20_001) if stats.in_sample(i, cutoff)]
    assert 1_800 < len(chosen) < 2_200
    # No stride: every residue mod 20 (how annotators are often assigned) is represented.
    assert {i % 20 for i in chosen} == set(range(20))


def test_the_sweep_asks_for_big_projects_only_and_once(big, project, annotator):
    [item] = make_items(project, 1)
    Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"})
    assert stats_snapshot.sweep() == 1
    assert stats_snapshot.sweep() == 0, "a job is pending already"
    assert snapshot_jobs(big).get().params == {"trigger": "schedule"}
    assert not snapshot_jobs(project).exists()
    stats_snapshot.run_job(snapshot_jobs(big).get())
    assert stats_snapshot.sweep() == 0, "the snapshot is fresh"


def test_a_snapshot_job_of_a_deleted_project_is_skipped(big, crowd):
    job = stats_snapshot.request_refresh(big)
    Job.objects.filter(pk=job.pk).update(project=None)
    job.refresh_from_db()
    stats_snapshot.run_job(job)
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["skipped"] is True


def test_without_the_sql_counters_the_sample_still_counts_every_annotation(big, monkeypatch):
    # SQLite (the demo) has no `jsonb_typeof`: the streamed pass counts everything and samples in Python.
    in_sql = stats.compute(big, sample_items=10)
    monkeypatch.setattr(stats.connection, "vendor", "sqlite")
    full = stats.compute(big)
    sampled = stats.compute(big, sample_items=10)
    assert 0 < sampled["sample"]["items"] < 30
    for key in ("annotations", "annotators", "confusion"):
        assert sampled[key] == full[key], key
    # The same items are sampled either way, so the sampled figures agree too.
    assert sampled == in_sql


def test_a_failed_snapshot_job_is_not_asked_for_again_at_once(big, crowd):
    from django.utils import timezone

    get_stats(crowd[0], big)
    snapshot_jobs(big).update(state="failed", finished_at=timezone.now(), error="boom")
    assert get_stats(crowd[0], big)["freshness"]["refresh"] == "pending"
    assert snapshot_jobs(big).count() == 1
    snapshot_jobs(big).update(finished_at=timezone.now() - stats_snapshot.FAILED_BACKOFF)
    assert get_stats(crowd[0], big)["freshness"]["refresh"] == "requested"
    assert snapshot_jobs(big).count() == 2


def test_the_live_figures_match_the_full_computation(big):
    items = list(Item.objects.filter(project=big).order_by("id")[:6])
    for item, reason in zip(items, ["disagreement", "disagreement", "audit", "escalated", ""], strict=False):
        Item.objects.filter(pk=item.pk).update(status="in_review", review_reason=reason)
    Item.objects.filter(pk=items[5].pk).update(status="done", review_reason="audit")  # not in review: not counted
    live, full = stats.live_figures(big), stats.compute(big)
    assert {k: live[k] for k in ("items", "counts", "review_queue", "model")} == \
        {k: full[k] for k in ("items", "counts", "review_queue", "model")}
    assert live["review_queue"]["size"] == 5 and live["review_queue"]["by_reason"]["unspecified"] == 1
