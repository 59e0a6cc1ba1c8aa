"""Statistics of big projects: a stored snapshot, refreshed by a job, plus the figures cheap enough live.

Over a million items and millions of annotations the statistics (one streamed pass over every
annotation, Krippendorff's alpha, Cohen's kappa per pair, Dawid–Skene) take tens of seconds: far
beyond a request's second. So `current`, what the API and the dashboard call:

- a project with fewer than `threshold()` annotations (20,000 by default, setting
  `HITL_STATS_SNAPSHOT_ANNOTATIONS`) is computed now, exactly, as before (`freshness.state: "live"`);
- a bigger one answers from its `StatsSnapshot` row (`stats.compute` with `SAMPLE_ITEMS`, run by the
  `stats_snapshot` job), with the items by status, the review queue and the active model read live
  (`stats.live_figures`, indexed and cheap); `freshness` says when the snapshot was computed, how many
  annotations came since, which figures are live and which sampled. A snapshot with `MIN_NEW` new
  annotations (or `STALE_SHARE` of those it covered), or older than `MAX_AGE` with any new one, asks
  for a refresh; one job at a time per project. Until the first snapshot exists the answer carries the
  live figures only (`state: "computing"`).

Beat's `stats-snapshots` sweep (every `SWEEP_SECONDS`) refreshes stale snapshots of projects nobody
looks at, so the dashboard is seldom older than that.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from annotations import stats
from annotations.models import Annotation, StatsSnapshot
from tasks import jobs
from tasks.models import Job, JobState, Project

STATS_SNAPSHOT = "stats_snapshot"  # the job kind (registered in apps.py)
DEFAULT_THRESHOLD = 20_000
SAMPLE_ITEMS = 100_000  # items whose ratings alpha, kappa and Dawid–Skene use (every item below that)
MIN_NEW = 1_000
STALE_SHARE = 0.05
MAX_AGE = timedelta(hours=1)
SWEEP_SECONDS = 300.0
FAILED_BACKOFF = timedelta(minutes=10)
# Figures the snapshot cannot give live, and those read at each request.
LIVE = ("items", "counts", "review_queue", "model")


def threshold() -> int:
    """Annotations from which a project's statistics come from a snapshot."""
    return int(getattr(settings, "HITL_STATS_SNAPSHOT_ANNOTATIONS", DEFAULT_THRESHOLD))


def _annotations_since(project: Project, after_id: int, limit: int) -> int:
    """The project's annotations with an id above `after_id`, counted up to `limit` (an index range
    scan of at most `limit` rows, however big the project)."""
    return Annotation.objects.filter(project=project, id__gt=after_id).order_by().values("id")[:limit].count()


def current(project: Project) -> dict[str, Any]:
    """The statistics the API and the dashboard show (see the module's docstring), with `freshness`."""
    limit = threshold()
    snapshot = StatsSnapshot.objects.filter(project=project).first()
    if snapshot is None or snapshot.annotations < limit:
        if _annotations_since(project, 0, limit) < limit:
            out = stats.compute(project)
            out["freshness"] = {"state": "live", "computed_at": timezone.now().isoformat(), "age_seconds": 0.0,
                                "new_annotations": 0, "live": sorted(out), "snapshot": [], "sample": None,
                                "refresh": None}
            return out
        if snapshot is None:
            return _computing(project)
    return _from_snapshot(project, snapshot)


def _from_snapshot(project: Project, snapshot: StatsSnapshot) -> dict[str, Any]:
    out = dict(snapshot.data)
    sample = out.pop("sample", None)
    out.update(stats.live_figures(project))
    bound = max(MIN_NEW, int(STALE_SHARE * snapshot.annotations))
    new = _annotations_since(project, snapshot.through_annotation, bound)
    age = timezone.now() - snapshot.computed_at
    refresh = None
    if new >= bound or (new and age > MAX_AGE):
        refresh = "requested" if request_refresh(project) else "pending"
    elif _refresh_pending(project):
        refresh = "pending"
    out["freshness"] = {
        "state": "snapshot",
        "computed_at": snapshot.computed_at.isoformat(),
        "age_seconds": round(age.total_seconds(), 1),
        "compute_seconds": round(snapshot.seconds, 1),
        "annotations_covered": snapshot.annotations,
        # Counted up to the refresh bound: "at least this many" when it equals `new_annotations_bound`.
        "new_annotations": new,
        "new_annotations_bound": bound,
        "live": sorted(LIVE),
        "snapshot": sorted(k for k in out if k not in LIVE and k != "freshness"),
        "sample": sample,
        "refresh": refresh,
    }
    return out


def _computing(project: Project) -> dict[str, Any]:
    """A big project's first answer, before its first snapshot: the live figures, the rest empty."""
    requested = request_refresh(project)
    out: dict[str, Any] = {
        "task_type": project.task_type, "annotations": None, "agreement": None, "truth_inference": None,
        "agreement_note": ("The agreement figures of this project are being computed by a background job; "
                           "they appear here when it is done (usually within a minute or two)."),
        "confusion": None, "annotators": [], "questions": [], "routing": None,
    }
    out.update(stats.live_figures(project))
    out["freshness"] = {"state": "computing", "computed_at": None, "age_seconds": None, "new_annotations": None,
                        "live": sorted(LIVE), "snapshot": [], "sample": None,
                        "refresh": "requested" if requested else "pending"}
    return out


# --- the job -------------------------------------------------------------------------------------

def _refresh_pending(project: Project) -> bool:
    """A snapshot job is pending or running, or one failed within `FAILED_BACKOFF` (so a job that keeps
    failing is not asked for again at every request; beat's sweep retries it after that)."""
    busy = Job.objects.filter(project=project, kind=STATS_SNAPSHOT)
    return (busy.filter(state__in=[JobState.PENDING, JobState.RUNNING]).exists()
            or busy.filter(state=JobState.FAILED, finished_at__gt=timezone.now() - FAILED_BACKOFF).exists())


def request_refresh(project: Project, trigger: str = "stale") -> Job | None:
    """Ask the workers for a fresh snapshot unless one is already pending or running (None then).

    Two requests at the same moment may both ask; the second snapshot is merely redundant."""
    if _refresh_pending(project):
        return None
    return jobs.create_job(STATS_SNAPSHOT, project=project, params={"trigger": trigger})


def build(project: Project) -> StatsSnapshot:
    """Compute a snapshot (not saved): slow, run it outside transactions."""
    newest = Annotation.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first() or 0
    covered = Annotation.objects.filter(project=project, id__lte=newest).count()
    started = time.perf_counter()
    data = stats.compute(project, sample_items=SAMPLE_ITEMS)
    return StatsSnapshot(project=project, computed_at=timezone.now(), seconds=time.perf_counter() - started,
                         annotations=covered, through_annotation=newest, data=data)


def store(snapshot: StatsSnapshot) -> None:
    """Replace the project's snapshot (an upsert: two runs at once leave one row)."""
    StatsSnapshot.objects.bulk_create(
        [snapshot], update_conflicts=True, unique_fields=["project"],
        update_fields=["computed_at", "seconds", "annotations", "through_annotation", "data"])


def refresh(project: Project) -> StatsSnapshot:
    """Compute and store at once (scripts and tests; the app runs `run_job`)."""
    snapshot = build(project)
    store(snapshot)
    return snapshot


def run_job(job: Job) -> None:
    """The job's work: compute outside any transaction, then store and finish the job together."""
    def stored(snapshot: StatsSnapshot) -> dict:
        store(snapshot)
        return {"annotations": snapshot.annotations, "seconds": round(snapshot.seconds, 1)}

    jobs.compute_then_store(job, build, stored)


def describe(job: Job) -> str:
    result = job.result or {}
    if "annotations" not in result:
        return ""
    return f"Statistics of {result['annotations']} annotations in {result['seconds']} s."


def sweep() -> int:
    """Ask for a snapshot of every big project whose snapshot is missing or stale; how many were asked for.

    A bounded count per project (at most `threshold()` index entries), so the sweep stays cheap."""
    limit = threshold()
    snapshots = {s.project_id: s for s in StatsSnapshot.objects.all()}
    asked = 0
    for project in Project.objects.all().order_by("id"):
        snapshot = snapshots.get(project.pk)
        if snapshot is None:
            stale = _annotations_since(project, 0, limit) >= limit
        else:
            bound = max(MIN_NEW, int(STALE_SHARE * snapshot.annotations))
            new = _annotations_since(project, snapshot.through_annotation, bound)
            stale = snapshot.annotations >= limit and (
                new >= bound or (new > 0 and timezone.now() - snapshot.computed_at > MAX_AGE))
        if stale and request_refresh(project, trigger="schedule"):
            asked += 1
    return asked
