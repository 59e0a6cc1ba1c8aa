"""Importing items: all-or-nothing, in batches, in one transaction."""
from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import orjson
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from hitl.parsers import BodyTooLarge
from tasks import audit, jobs
from tasks.models import FinalSource, Item, ItemStatus, Job, JobKind, Project
from tasks.records import Record, RecordError, Schema, iter_file

BATCH = 5000


def schema_of(project: Project) -> Schema:
    return Schema(task_type=project.task_type, labels=list(project.labels))


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def _check_external_ids(project: Project, batch: list[Record], seen: set[str]) -> None:
    ids = [r.external_id for r in batch if r.external_id]
    for r in batch:
        if r.external_id:
            if r.external_id in seen:
                raise RecordError(r.number, "external_id", f"{r.external_id!r} appears twice in this import",
                                  unit=r.unit)
            seen.add(r.external_id)
    if ids:
        taken = set(
            Item.objects.filter(project=project, external_id__in=ids).values_list("external_id", flat=True)
        )
        if taken:
            first = next(r for r in batch if r.external_id in taken)
            raise RecordError(first.number, "external_id", f"{first.external_id!r} already exists in this project",
                              unit=first.unit)


def _row(project: Project, record: Record, now: datetime) -> dict:
    """The column values of a new item."""
    row = {
        "project_id": project.pk, "external_id": record.external_id, "data": record.data,
        "status": ItemStatus.NEW, "priority": 0.0, "needed": project.overlap, "annotation_count": 0,
        "gold": None, "final_value": None, "final_source": "", "final_at": None, "review_reason": "",
        "created_at": now, "updated_at": now,
    }
    if record.gold is not None:
        # Gold items arrive with their final value (training data, annotator scoring).
        row.update(gold=record.gold, final_value=record.gold, final_source=FinalSource.GOLD,
                   status=ItemStatus.DONE, final_at=now)
    return row


_JSON_COLUMNS = ("data", "gold", "final_value")
_COPY_COLUMNS = ("project_id", "external_id", "data", "status", "priority", "needed", "annotation_count",
                 "gold", "final_value", "final_source", "final_at", "review_reason", "created_at", "updated_at")


def _copy_rows(rows: list[dict]) -> None:
    """PostgreSQL: stream rows with COPY, several times faster than INSERT for large batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([
            _NULL if row[c] is None else orjson.dumps(row[c]).decode() if c in _JSON_COLUMNS
            else row[c].isoformat() if isinstance(row[c], datetime) else row[c]
            for c in _COPY_COLUMNS
        ])
    buffer.seek(0)
    with connection.cursor() as cur:
        cur.copy_expert(
            f"COPY tasks_item ({', '.join(_COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '{_NULL}')", buffer
        )


# Written for NULL in the COPY input; cannot collide with a value, which is JSON or a short text.
_NULL = "\\N"


def _insert(rows: list[dict]) -> None:
    if connection.vendor == "postgresql":
        _copy_rows(rows)
    else:
        Item.objects.bulk_create([Item(**row) for row in rows], batch_size=BATCH)


def import_records(project: Project, records: Iterable[Record], *, user=None, job: Job | None = None) -> int:
    """Insert every record or none; raise `RecordError` naming the first bad record.

    Records are consumed lazily and written in batches, so memory stays flat however long the
    input is. With `job`, the job is completed in the same transaction (see tasks.jobs).
    """
    seen: set[str] = set()
    imported = 0
    now = timezone.now()
    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return job.result.get("imported", 0) if job.result else 0
        for batch in _batches(records, BATCH):
            _check_external_ids(project, batch, seen)
            _insert([_row(project, r, now) for r in batch])
            imported += len(batch)
            if job is not None:
                jobs.report_progress(job, imported)
        audit.record("items.imported", user=user, project=project, count=imported, job=job.pk if job else None)
        if job is not None:
            jobs.complete(job, {"imported": imported})
    return imported


def import_upload(project: Project, upload: UploadedFile, *, user=None) -> int | Job:
    """Import an uploaded file inline when small; otherwise store it and start an import job."""
    if upload.size > settings.HITL_MAX_UPLOAD:
        raise BodyTooLarge(f"The file is {upload.size} bytes; uploads may be at most {settings.HITL_MAX_UPLOAD} bytes.")
    if upload.size <= settings.HITL_INLINE_IMPORT_MAX_BYTES:
        return import_records(project, iter_file(upload, upload.name, schema_of(project)), user=user)
    suffix = Path(upload.name).suffix.lower()
    if suffix not in (".json", ".jsonl", ".ndjson"):
        raise RecordError(None, "file", f"unsupported file type {upload.name!r}; use .json or .jsonl")
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with transaction.atomic():
        return jobs.create_job(
            JobKind.IMPORT, project=project, user=user, params={"path": str(path), "filename": upload.name}
        )


def run_import_job(job: Job) -> None:
    """The import job's work: import the stored upload, then remove it."""
    project = job.project
    path = job.params["path"]
    if project is None or not os.path.exists(path):
        raise RecordError(None, "file", "the uploaded file is no longer available; upload it again")
    with open(path, "rb") as stream:
        import_records(
            project, iter_file(stream, job.params.get("filename", path), schema_of(project)),
            user=job.created_by, job=job,
        )
    os.remove(path)
