"""The life of a job row: created, enqueued after commit, claimed, progressing, finished.

A job's Celery task only carries the job id. Work is idempotent: a job that already succeeded
is never redone, and work that changes data marks the job succeeded in the same transaction
as its writes (see `complete`), so a worker killed mid-job leaves nothing half-done and the
redelivered message simply runs it again. A message that could not be sent (the broker is down)
or that the broker lost is sent again by the periodic `requeue_stalled`.
"""
from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import current_app, signature
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.db.backends.signals import connection_created
from django.db.models import F, Q
from django.dispatch import receiver
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from tasks import signals
from tasks.models import Job, JobState, Project

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Kind:
    """A kind of job: the Celery task that runs it (sent by name: the web process imports no
    jobs), what people call it, and how a finished one is summed up in one line."""

    name: str
    task: str
    label: str
    describe: Callable[[Job], str] | None = None


# Filled by each app in its AppConfig.ready (register_kind); the core knows none of them.
_KINDS: dict[str, Kind] = {}


def register_kind(name: str, *, task: str, label: str, describe: Callable[[Job], str] | None = None) -> None:
    _KINDS[name] = Kind(name, task, label, describe)


def kinds() -> list[str]:
    """The names of every registered kind of job."""
    return list(_KINDS)


def label_of(kind: str) -> str:
    return _KINDS[kind].label if kind in _KINDS else kind


def register_periodic(name: str, *, task: str, seconds: float) -> None:
    """Run the Celery task `task` every `seconds` (beat picks it up when it starts)."""
    current_app.add_periodic_task(seconds, signature(task), name=name)


def create_job(kind: str, *, project=None, user=None, params: dict | None = None, total: int | None = None) -> Job:
    """Create a pending job and send it to the workers once the surrounding transaction commits."""
    job = Job.objects.create(kind=kind, project=project, created_by=user, params=params or {}, total=total)
    enqueue(job)
    return job


def enqueue(job: Job) -> None:
    """Publish the job's message after commit, so a worker never sees a rolled-back job.

    With the broker unreachable the job stays pending and the request that made it still
    succeeds; `requeue_stalled` sends it once the broker is back.
    """
    task_name = _KINDS[job.kind].task
    job_id = job.pk
    transaction.on_commit(lambda: send(task_name, job_id))


def send(task_name: str, job_id: int) -> bool:
    """Publish one job message; False (and a warning) if the broker cannot be reached.

    The broker settings bound how long that takes: a short connect and socket timeout and a
    single retry (CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_TASK_PUBLISH_RETRY_POLICY).
    """
    try:
        current_app.send_task(task_name, args=[job_id])
    except BrokerUnavailable as exc:
        log.warning("job %s was not sent to the workers, the broker is unreachable (%s); it stays pending "
                    "and is sent again once the broker is back (requeue_stalled)", job_id, exc)
        return False
    return True


def claim(job_id: int) -> Job | None:
    """Mark the job running and return it; None if it is gone or already finished.

    A job found `running` is claimed again: its message was redelivered because the worker
    that had it died (acks_late), and the work is idempotent.
    """
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state__in=[JobState.PENDING, JobState.RUNNING]).update(
        state=JobState.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, error=""
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def _progress_alias() -> str | None:
    """A connection that commits on its own, so progress shows while the work's transaction is open."""
    if "jobs" in settings.DATABASES:
        return "jobs"
    return None


# How long a progress update on the second connection may wait for a lock. Progress is a hint the next
# report repeats; an update queued behind a table lock (a migration's, a TRUNCATE's) that itself waits for
# the job's own open transaction would be a deadlock PostgreSQL cannot see: two connections, one process.
PROGRESS_LOCK_TIMEOUT = "2s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's error code when lock_timeout ends a wait


@receiver(connection_created)
def _progress_connection_settings(sender, connection, **kwargs) -> None:
    """The progress connection's settings, set once when it opens (not a round trip per report): its lock_timeout,
    and commits that do not wait for the WAL to reach the disk. Progress is a hint the next report repeats, and
    the flush its commit waited for was the job's own WAL written so far (a large import's batches: 13 ms a
    report, 8% of the import), which the job's commit flushes anyway."""
    if connection.alias == _progress_alias():
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [PROGRESS_LOCK_TIMEOUT])
            cursor.execute("SET synchronous_commit = off")


def report_progress(job: Job, progress: int, total: int | None = None) -> None:
    """Record how far the job is; visible to readers at once where the database allows. An update that
    cannot get its lock in PROGRESS_LOCK_TIMEOUT is skipped: the job goes on, the next report catches up."""
    job.progress = progress
    if total is not None:
        job.total = total
    fields = {"progress": progress, "heartbeat_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    alias = _progress_alias()
    if alias is not None:
        try:
            Job.objects.using(alias).filter(pk=job.pk).update(**fields)
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            log.warning("job %s: progress %s not recorded, its row or table stayed locked", job.pk, progress)
    elif not connections["default"].in_atomic_block:
        Job.objects.filter(pk=job.pk).update(**fields)
    else:
        # SQLite holds its single write lock until the work commits: progress goes to a side file.
        _progress_file(job.pk).parent.mkdir(parents=True, exist_ok=True)
        tmp = _progress_file(job.pk).with_suffix(".tmp")
        tmp.write_text(json.dumps({"progress": job.progress, "total": job.total}))
        os.replace(tmp, _progress_file(job.pk))


def _progress_file(job_id: int) -> Path:
    return Path(settings.VAR_DIR) / "job-progress" / f"{job_id}.json"


def live(job: Job) -> Job:
    """The job with the newest progress of a running one, wherever it was recorded."""
    if job.state == JobState.RUNNING and _progress_alias() is None:
        try:
            side = json.loads(_progress_file(job.pk).read_text())
        except (OSError, ValueError):
            return job
        if side["progress"] > job.progress:
            job.progress, job.total = side["progress"], side["total"]
    return job


# Namespace of the advisory locks that keep two runs of one job apart.
_JOB_LOCK_SPACE = 0x6A6F62


def compute_then_store(job: Job, compute: Callable[[Project], Any], store: Callable[[Any], dict]) -> None:
    """A job's work in two steps: `compute(project)` outside any transaction (long work would otherwise hold
    locks, SQLite's write lock included), then `store(computed)`, which answers the job's result, in the
    transaction that completes the job; a job finished meanwhile stores nothing. Re-running it computes
    again. A job whose project is gone completes as skipped."""
    project = Project.objects.filter(pk=job.project_id).first()
    if project is None:
        with transaction.atomic():
            if lock_unfinished(job):
                complete(job, {"skipped": True, "reason": "the project is gone"})
        return
    computed = compute(project)
    with transaction.atomic():
        if lock_unfinished(job):
            complete(job, store(computed))


def lock_unfinished(job: Job) -> bool:
    """Inside a transaction: exclude other runs of this job; False if one already completed it.

    An advisory lock rather than a row lock: progress updates to the job row come from a
    second connection of the same worker and must not wait for this transaction.
    SQLite needs nothing here, its transactions run one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_JOB_LOCK_SPACE, job.pk % 2**31])
    state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    return state not in (None, JobState.SUCCEEDED)


def complete(job: Job, result: dict | None = None) -> None:
    """Mark the job succeeded; call inside the transaction that holds the job's writes."""
    job.state = JobState.SUCCEEDED
    job.result = result
    job.finished_at = timezone.now()
    if job.total is None:
        job.total = job.progress
    job.save(update_fields=["state", "result", "finished_at", "progress", "total"])
    _finished(job, JobState.SUCCEEDED, result=result)
    side = _progress_file(job.pk)
    transaction.on_commit(lambda: side.unlink(missing_ok=True))


def fail(job: Job, error: str) -> None:
    """Mark the job failed with a message a user can act on."""
    failed = Job.objects.filter(pk=job.pk).exclude(state=JobState.SUCCEEDED).update(
        state=JobState.FAILED, error=error[:10000], finished_at=timezone.now()
    )
    if failed:
        _finished(job, JobState.FAILED, error=error[:10000])


def _finished(job: Job, state: str, *, result: dict | None = None, error: str = "") -> None:
    signals.job_finished.send(sender=Job, job_id=job.pk, project_id=job.project_id, kind=job.kind, state=state,
                              result=result, error=error)


def run(job_id: int, work: Callable[[Job], None], *, expected: tuple[type[Exception], ...] = ()) -> None:
    """Claim the job and do `work(job)`; record failure. `work` calls `complete` itself.

    Exceptions in `expected` are the user's fault (bad input) and are stored as the message
    alone; anything else is stored with its traceback and re-raised for the worker's log.
    """
    job = claim(job_id)
    if job is None:
        log.info("job %s is gone or finished; nothing to do", job_id)
        return
    try:
        work(job)
    except expected as exc:
        fail(job, str(exc))
    except Exception as exc:
        fail(job, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
        raise


def retry(job: Job) -> Job:
    """Send a failed (or stalled) job to the workers again."""
    Job.objects.filter(pk=job.pk).exclude(state=JobState.SUCCEEDED).update(
        state=JobState.PENDING, error="", finished_at=None
    )
    job.refresh_from_db()
    if job.state == JobState.PENDING:
        enqueue(job)
    return job


def requeue_stalled() -> int:
    """Re-send running jobs whose worker stopped reporting (it died), and pending jobs nobody has
    taken: their message could not be sent (the broker was down) or the broker lost it.

    Run by beat every minute. A job that merely waits its turn behind others may be sent twice:
    the copy finds it finished, or waits for the run in progress and then finds it finished
    (`claim`, `lock_unfinished`), and changes nothing. A pending job whose message a worker holds
    while it waits (a training behind another one of its project, `mark_waiting`) is left alone.
    """
    now = timezone.now()
    silent = now - timedelta(seconds=settings.HITL_JOB_STALL_SECONDS)
    unsent = now - timedelta(seconds=settings.HITL_JOB_RESEND_SECONDS)
    stalled = list(
        Job.objects.filter(
            Q(state=JobState.RUNNING, heartbeat_at__lt=silent)
            | (Q(state=JobState.PENDING, created_at__lt=unsent)
               & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=unsent)))
        )
    )
    for job in stalled:
        with transaction.atomic():
            retry(job)
    return len(stalled)


def mark_waiting(job_id: int) -> None:
    """Record that a worker holds this pending job's message and will run it later (not lost)."""
    Job.objects.filter(pk=job_id, state=JobState.PENDING).update(heartbeat_at=timezone.now())


def trigger_of(job: Job) -> str:
    """What asked for the job ("manual", "schedule", "labels"), with how many requests it served."""
    params = job.params or {}
    triggers = [t.get("trigger", "") for t in params.get("triggers") or [] if isinstance(t, dict)]
    trigger = ", ".join(dict.fromkeys(t for t in triggers if t)) or params.get("trigger", "")
    if len(triggers) > 1:
        trigger += f" ({len(triggers)} requests)"
    return trigger


def summary(job: Job) -> str:
    """One line on how the job stands or ended, for people."""
    result = job.result or {}
    if job.state == JobState.FAILED:
        return job.error
    if job.state == JobState.PENDING:
        return "Waiting for a worker."
    if job.state != JobState.SUCCEEDED:
        return ""
    if result.get("skipped"):
        return f"Skipped: {result.get('reason', '')}"
    kind = _KINDS.get(job.kind)
    return kind.describe(job) if kind and kind.describe else ""
