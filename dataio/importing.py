"""Importing items: all-or-nothing, in batches, in one transaction, in constant memory.

Records (from any reader in `dataio.readers`) become items, and any labels they bring become
gold values, final values, predictions or annotations (with the leases that say who had the
item). Ids are drawn from the sequence up front on PostgreSQL so that items, annotations and
leases of a batch go in with one COPY each.
"""
from __future__ import annotations

import functools
import gc
import io
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

import orjson
from celery import current_app
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import NOT_PROVIDED
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from accounts.models import User
from annotations.consensus import decide
from audit import trail
from common import row_checks
from common.db_functions import TransactionStart
from common.parsers import BodyTooLarge
from dataio import item_ids
from dataio.apps import IMPORT
from dataio.prediction_routing import Router, record_accepted, route_existing
from dataio.readers import ImageStore, ReadOptions, format_of, read
from dataio.records import Record, RecordError, Schema
from tasks import jobs, lifecycle, text_search
from tasks.items import give_gold
from tasks.models import FinalSource, Item, Job, LeaseState, Project

log = logging.getLogger(__name__)

BATCH = 5000
# The Celery task (dataio.celery_tasks) that builds imported items' search vectors.
BUILD_SEARCH_TASK = "dataio.build_text_search"
# Records per COPY when the parser feeds PostgreSQL directly (see _StreamedBatch).
STREAM_BATCH = 20000
# An import that wrote at least this many rows into a table refreshes the planner's statistics of it, and once
# the import committed, a job vacuums it (`vacuum_imported`).
ANALYZE_AFTER = 50000
VACUUM_TASK = "dataio.vacuum_imported"
# The tables an import writes: the items; the annotations, with a lease row each, of annotated records.
ITEM_TABLES = ("tasks_item",)
ANNOTATION_TABLES = ("annotations_annotation", "tasks_assignment")
WRITTEN_TABLES = ITEM_TABLES + ANNOTATION_TABLES
DUPLICATE_POLICIES = ("error", "skip", "update")


def schema_of(project: Project) -> Schema:
    return Schema(task_type=project.task_type, labels=list(project.labels), questions=tuple(project.questions or ()))


@dataclass(frozen=True)
class ImportOptions:
    """How to read the files, and what to do with records whose external_id the project has."""

    read: ReadOptions = field(default_factory=ReadOptions)
    on_duplicate: str = "error"

    def as_params(self) -> dict:
        return {"read": asdict(self.read), "on_duplicate": self.on_duplicate}

    @classmethod
    def from_params(cls, params: dict) -> ImportOptions:
        return cls(read=ReadOptions(**params.get("read", {})), on_duplicate=params.get("on_duplicate", "error"))


@dataclass
class ImportResult:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    annotations: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


class _Users:
    """Usernames of imported annotations and final values to ids, looked up once per name."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.looked_up: set[str] = set()

    def unknown(self, record: Record) -> bool:
        """Whether the record names a user not looked up yet."""
        if record.annotations and any(a.user not in self.looked_up for a in record.annotations):
            return True
        return bool(record.final and record.final.by and record.final.by not in self.looked_up)

    def resolve(self, batch: list[Record]) -> None:
        names = {a.user for r in batch for a in r.annotations} | {r.final.by for r in batch if r.final and r.final.by}
        missing = names - self.looked_up
        if missing:
            self.ids.update(_hold_users(missing) if connection.vendor == "postgresql"
                            else User.objects.filter(username__in=missing).values_list("username", "id"))
            self.looked_up |= missing
        for r in batch:
            for k, a in enumerate(r.annotations):
                if a.user not in self.ids:
                    raise RecordError(r.number, f"annotations[{k}].user", f"there is no user named {a.user!r}",
                                      unit=r.unit)


def _hold_users(usernames: set[str]) -> list[tuple[str, int]]:
    """(username, id) of the users named, held as a foreign-key check would hold them: a final value's reviewer
    goes in without a check per row (`row_checks`)."""
    with connection.cursor() as cur:
        cur.execute("SELECT username, id FROM accounts_user WHERE username = ANY(%s) FOR KEY SHARE", [list(usernames)])
        return cur.fetchall()


def _existing(project: Project, batch: list[Record], seen: set[str]) -> dict[str, int]:
    """Ids of items the project already has for the batch's external ids; refuse repeats in the import."""
    ids = []
    for r in batch:
        if r.external_id:
            if r.external_id in seen:
                raise RecordError(r.number, "external_id", f"{r.external_id!r} appears twice in this import",
                                  unit=r.unit)
            seen.add(r.external_id)
            ids.append(r.external_id)
    if not ids:
        return {}
    if connection.vendor == "postgresql":  # one array parameter rather than thousands
        with connection.cursor() as cur:
            cur.execute("SELECT external_id, id FROM tasks_item WHERE project_id = %s AND external_id = ANY(%s)",
                        [project.pk, ids])
            return dict(cur.fetchall())
    return dict(Item.objects.filter(project=project, external_id__in=ids).values_list("external_id", "id"))


def _prediction(record: Record) -> dict | None:
    p = record.prediction
    if p is None:
        return None
    return {"model_version": p.model_version, "value": p.value, "confidence": p.confidence, "scores": p.scores or {}}


def _row(project: Project, record: Record, now: datetime, users: _Users) -> dict:
    """The column values of a new item; its state (`lifecycle.imported`) follows from the labels it brings,
    and a prediction with a confidence routes it as the model's would (`prediction_routing`)."""
    prediction = _prediction(record)
    values = [a.value for a in record.annotations if not a.skipped]
    route = None
    key = _values_key(values) if record.gold is None and record.final is None and record.prediction is None else None
    if key is not None:
        # Annotations alone (a labeled dataset): the state follows from their values, asked once per distinct set.
        life = _annotated_life(project.task_type, project.overlap, project.consensus_iou, key, now)
    else:
        settled = {} if record.gold is not None or record.final is not None else _consensus(
            project.task_type, values, project.overlap, project.consensus_iou)
        if record.prediction is not None and record.gold is None and record.final is None and not settled:
            route = Router(project, now).route(record.number, record.prediction, annotated=bool(values))
        routed = {} if route is None else {"band": route.band, "predicted_value": record.prediction.value}
        f = record.final
        final = {} if f is None else {
            "final_value": f.value, "final_source": f.source, "final_at": f.at,
            "final_by": users.ids.get(f.by) if f.by and f.source == FinalSource.REVIEWER else None}
        life = lifecycle.imported(predicted=prediction is not None, annotated=bool(values), gold_value=record.gold,
                                  gold_at=record.gold_at, at=now, **final, **settled, **routed).columns()
    return {
        "project_id": project.pk, "external_id": record.external_id, "data": record.data,
        "priority": route.priority if route else 0.0, "needed": route.needed if route else project.overlap,
        "annotation_count": len(values), "gold": record.gold,
        "prediction": prediction, "confidence": None if prediction is None else record.prediction.confidence,
        "created_at": now, "updated_at": now, **life,
    }


def _values_key(values: list) -> bytes | None:
    """Annotation values as JSON, the key of `_annotated_life`; None for none (or what orjson cannot write)."""
    if not values:
        return None
    try:
        return orjson.dumps(values)
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: not remembered
        return None


@functools.lru_cache(maxsize=256)
def _annotated_life(task_type: str, overlap: int, iou: float, values: bytes, now: datetime) -> dict:
    """The state columns of an imported item that brings annotations alone, whose non-skipped values are `values`
    (JSON): settled by their consensus once there are `overlap` of them, else waiting. Remembered: a labeled
    dataset's items share a few label sets (the columns are copied into each row, never changed)."""
    settled = _consensus(task_type, orjson.loads(values), overlap, iou)
    return lifecycle.imported(predicted=False, annotated=True, at=now, **settled).columns()


def _consensus(task_type: str, values: list, overlap: int, iou: float) -> dict:
    """`lifecycle.imported`'s consensus arguments for an item's non-skipped annotation values: their outcome once
    there are `overlap` of them (none for fewer: the item waits)."""
    if not values or len(values) < overlap:
        return {}
    outcome = decide(task_type, values, iou=iou)
    return {"agreed": outcome.agreed, "consensus_value": outcome.value}


def _annotation_rows(project: Project, record: Record, item_id: int, now: datetime, users: _Users):
    for a in record.annotations:
        at = a.created_at or now
        yield ({"project_id": project.pk, "item_id": item_id, "user_id": users.ids[a.user], "value": a.value,
                "skipped": a.skipped, "lead_time": a.lead_time, "created_at": at},
               {"project_id": project.pk, "item_id": item_id, "user_id": users.ids[a.user],
                "state": LeaseState.SKIPPED if a.skipped else LeaseState.SUBMITTED, "leased_at": at,
                "expires_at": at, "finished_at": at})


_JSON_COLUMNS = {"data", "gold", "final_value", "prediction", "value"}


def _text_cell(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_cell(v) -> str:
    return orjson.dumps(v).decode().replace("\\", "\\\\")


@functools.lru_cache(maxsize=64)
def _time_cell(v: datetime) -> str:
    """Remembered: most of an import's times are its one `now` (an annotated item's row, its annotation and
    its lease carry it seven times)."""
    return v.isoformat()


def _copy_line(row: dict, columns: tuple[str, ...], _null="\\N") -> str:
    """One row in COPY's text format: tab-separated, \\N for NULL, backslashes doubled.

    JSON from orjson has no raw tab or newline (they are escaped inside strings); the other
    columns are numbers, times, booleans and short texts.
    """
    return "\t".join([_null if (v := row[c]) is None else _CELL.get(type(v), str)(v) if c not in _JSON_COLUMNS
                      else _json_cell(v) for c in columns]) + "\n"


_CELL = {str: _text_cell, datetime: _time_cell}


def _copy(table: str, columns: tuple[str, ...], source) -> None:
    """PostgreSQL COPY from a file-like `source` (or a list of rows)."""
    if isinstance(source, list):
        source = io.StringIO("".join(_copy_line(row, columns) for row in source))
    with connection.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", source, size=1 << 16)


_ITEM_COLUMNS = ("id", "project_id", "external_id", "data", "status", "priority", "needed", "annotation_count",
                 "gold", "final_value", "final_source", "final_by_id", "final_at", "review_reason", "prediction",
                 "confidence", "created_at", "updated_at")
_ANNOTATION_COLUMNS = ("project_id", "item_id", "user_id", "value", "skipped", "lead_time", "created_at")
_ASSIGNMENT_COLUMNS = ("project_id", "item_id", "user_id", "state", "leased_at", "expires_at", "finished_at")


def _copy_items(source, unchecked: bool, columns: tuple[str, ...] = _ITEM_COLUMNS) -> None:
    """COPY into tasks_item; `unchecked`: without a foreign-key check per row (`row_checks`): the project and
    the users are held (`_import_all`, `_hold_users`), and the search vector's trigger has nothing to do for an
    import, which defers it (`tasks.text_search`)."""
    with row_checks.unchecked(unchecked):
        _copy("tasks_item", columns, source)


def _transaction_time() -> datetime:
    with connection.cursor() as cur:
        cur.execute("SELECT now()")
        return cur.fetchone()[0]


def _insert(project: Project, records: list[Record], rows: list[dict], now: datetime, users: _Users,
            unchecked: bool) -> int:
    """Insert new items and their annotations; return the number of annotations."""
    if connection.vendor == "postgresql":
        for row, pk in zip(rows, item_ids.reserve(len(rows))):
            row["id"] = pk
        _copy_items(rows, unchecked)
    else:
        items = Item.objects.bulk_create([Item(**{k: v for k, v in row.items() if k != "id"}) for row in rows],
                                         batch_size=BATCH)
        for row, item in zip(rows, items):
            row["id"] = item.pk
    record_accepted(project, list(zip(records, rows)))
    return _insert_annotations(project, zip(records, rows), now, users, unchecked)


def _insert_annotations(project: Project, written: Iterable[tuple[Record, dict]], now: datetime,
                        users: _Users, unchecked: bool) -> int:
    """The annotations and leases the written items bring; `unchecked`: without a foreign-key check per row
    (`row_checks`): they reference the project and users the import holds and items of its own transaction,
    which nobody else can see yet (and neither table has another trigger)."""
    from annotations.models import Annotation
    from tasks.models import Assignment

    if connection.vendor == "postgresql":
        annotations, leases = _annotation_lines(project, written, now, users)
        if annotations:
            with row_checks.unchecked(unchecked):
                _copy("annotations_annotation", _ANNOTATION_COLUMNS, io.StringIO("".join(annotations)))
                _copy("tasks_assignment", _ASSIGNMENT_COLUMNS, io.StringIO("".join(leases)))
        return len(annotations)
    pairs = [pair for record, row in written if record.annotations
             for pair in _annotation_rows(project, record, row["id"], now, users)]
    if pairs:
        Annotation.objects.bulk_create([Annotation(**a) for a, _ in pairs], batch_size=BATCH)
        Assignment.objects.bulk_create([Assignment(**s) for _, s in pairs], batch_size=BATCH)
    return len(pairs)


def _annotation_lines(project: Project, written: Iterable[tuple[Record, dict]], now: datetime,
                      users: _Users) -> tuple[list[str], list[str]]:
    """The COPY lines (`_ANNOTATION_COLUMNS`, `_ASSIGNMENT_COLUMNS`) of `_annotation_rows`, written straight from
    the records: the same cells `_copy_line` makes of those rows, without a dict per row."""
    annotations, leases = [], []
    for record, row in written:
        for a in record.annotations:
            at = _time_cell(a.created_at or now)
            head = f"{project.pk}\t{row['id']}\t{users.ids[a.user]}\t"
            lead_time = "\\N" if a.lead_time is None else str(a.lead_time)
            value = "\\N" if a.value is None else _json_cell(a.value)
            annotations.append(f"{head}{value}\t{a.skipped}\t{lead_time}\t{at}\n")
            state = LeaseState.SKIPPED.value if a.skipped else LeaseState.SUBMITTED.value
            leases.append(f"{head}{state}\t{at}\t{at}\t{at}\n")
    return annotations, leases


def _plain(record: Record) -> bool:
    """A record with its data alone (the bulk of large imports): its row differs from the next one's only in its
    id, external id and data."""
    return record.gold is None and record.final is None and record.prediction is None and not record.annotations


# The columns of a batch of plain records: the table's defaults (`db_default`) fill the others as `_row` would.
_NARROW_COLUMNS = ("id", "project_id", "external_id", "data", "needed")


def _defaults_stand_in(row: dict, now: datetime) -> bool:
    """Whether the table's defaults give a plain record's `row` the values `_row` gave it (the transaction's time
    included: `now` is the database's, see `_import_all`)."""
    for column in _ITEM_COLUMNS:
        if column not in _NARROW_COLUMNS:
            default = Item._meta.get_field(column).db_default
            given = (None if default is NOT_PROVIDED else now if isinstance(default, TransactionStart)
                     else getattr(default, "value", default))
            if row[column] != given:
                return False
    return True


class _StreamedBatch:
    """COPY input that parses records only when PostgreSQL asks for more data.

    The server inserts what it has received while the next records are parsed, so the two
    overlap. An external id that comes twice is caught by the table's unique constraint (no set
    of every id seen is kept, so memory stays flat), and named from the line COPY stopped at.
    A batch ends after `len(ids)` records, at the end of the input, or before a record
    whose annotators have not been looked up yet (the lookup needs the connection COPY holds).
    A `narrow` batch (of plain records, `_NARROW_COLUMNS`) also ends before the first record that is not plain.
    Only the records with more than their data (annotations, a prediction, ...) are kept for the work after the
    COPY (`written`); of every record, what names it in an error (`origins`). A plain record's data is then freed
    while PostgreSQL inserts, not with the batch's after the COPY while it waits (5.5 ms a batch of 20,000).
    """

    def __init__(self, first: Record, records: Iterator[Record], ids: list[int], project: Project, now: datetime,
                 users: _Users, narrow: bool, plain_tail: str):
        self.first, self.records, self.ids = first, records, ids
        self.project, self.now, self.users = project, now, users
        self.narrow = narrow
        self.columns = _NARROW_COLUMNS if narrow else _ITEM_COLUMNS
        self.written: list[tuple[Record, dict]] = []
        self.origins: list[tuple[int, str | None, str]] = []  # each line's record: number, external id, unit
        self.held: Record | None = None  # starts the next batch, once its users are known
        self.finished = False
        self.stopped = False
        self.error: BaseException | None = None
        # A plain record's line differs from the next one's only in its id, external id and data; `plain_tail` is
        # what follows the data in this batch's columns (`_streamed_batches`).
        self.plain_head = f"\t{project.pk}\t"
        self.plain_tail = plain_tail

    def read(self, size: int = -1) -> str:
        try:
            return self._read(size)
        except BaseException as exc:  # psycopg2 reports it as a cancelled COPY; the import re-raises it
            self.error = exc
            raise

    def _read(self, size: int) -> str:
        lines, length = [], 0
        while not self.stopped and (size < 0 or length < size):
            if len(self.origins) == len(self.ids):
                self.stopped = True
                break
            if self.first is not None:
                record, self.first = self.first, None
            else:
                record = next(self.records, None)
            if record is None:
                self.stopped = self.finished = True
                break
            plain = _plain(record)
            if (self.narrow and not plain) or (
                    (record.annotations or record.final is not None) and self.users.unknown(record)):
                self.held, self.stopped = record, True
                break
            pk = self.ids[len(self.origins)]
            self.origins.append((record.number, record.external_id, record.unit))
            if plain:
                external_id = "\\N" if record.external_id is None else _text_cell(record.external_id)
                line = f"{pk}{self.plain_head}{external_id}\t{_json_cell(record.data)}\t{self.plain_tail}"
            else:
                row = _row(self.project, record, self.now, self.users)
                row["id"] = pk
                self.written.append((record, row))
                line = _copy_line(row, _ITEM_COLUMNS)
            lines.append(line)
            length += len(line)
        return "".join(lines)


def _update(project: Project, records: list[Record], existing: dict[str, int], now: datetime) -> None:
    """on_duplicate="update": the new data, and any gold value or prediction the record brings (a
    prediction with a confidence routes an item nobody settled, see `prediction_routing`)."""
    items = []
    for r in records:
        item = Item(pk=existing[r.external_id], data=r.data, updated_at=now)
        fields = ["data", "updated_at"]
        if r.gold is not None:
            fields += give_gold(item, r.gold, now)
        if r.prediction is not None:
            item.prediction, item.confidence = _prediction(r), r.prediction.confidence
            fields += ["prediction", "confidence"]
        items.append((item, tuple(fields)))
    by_fields: dict[tuple, list[Item]] = {}
    for item, fields in items:
        by_fields.setdefault(fields, []).append(item)
    for fields, group in by_fields.items():
        Item.objects.bulk_update(group, list(fields), batch_size=1000)
    route_existing(project, records, existing, Router(project, now), now)


def import_into(project: Project, records: Iterable[Record], *, on_duplicate: str = "error", user=None,
                job: Job | None = None, store: ImageStore | None = None) -> ImportResult:
    """Import every record or none; raise `RecordError` naming the first bad record.

    Records are consumed lazily and written in batches, so memory stays flat however long the
    input is. With `job`, the job is completed in the same transaction (see tasks.jobs). Images
    a reader stored (`store`) are removed again if the import fails.
    """
    if on_duplicate not in DUPLICATE_POLICIES:
        raise RecordError(None, "on_duplicate", f"must be one of {', '.join(DUPLICATE_POLICIES)}")
    result = ImportResult()
    seen: set[str] = set()
    users = _Users()
    now = timezone.now()
    try:
        with _collector_paused():
            return _import_all(project, records, on_duplicate, now, users, seen, result, user=user, job=job)
    except BaseException:
        if store is not None:
            store.discard()
        raise


@contextmanager
def _collector_paused():
    """No cyclic garbage collection while importing: a batch holds tens of thousands of young records
    and rows (none in cycles), and the collector kept walking them, a third of the parsing time.
    It runs again afterwards, as before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_all(project, records, on_duplicate, now, users, seen, result: ImportResult, *, user, job) -> ImportResult:
    try:
        with transaction.atomic():
            if job is not None and not jobs.lock_unfinished(job):
                return ImportResult(**(job.result or {}))
            if connection.vendor == "postgresql":  # the time the table's defaults give (`_NARROW_COLUMNS`)
                now = _transaction_time()
            # Into a project whose items have no external ids (a new one, say) nothing can collide:
            # PostgreSQL then takes the records straight from the parser.
            streamed = connection.vendor == "postgresql" and not Item.objects.filter(
                project=project, external_id__isnull=False).exists()
            step = _streamed_batches if streamed else _checked_batches
            # The project is held once for all rows, which then go in without a check each (row_checks).
            unchecked = row_checks.may_skip()
            if unchecked and not row_checks.hold("tasks_project", [project.pk]):
                raise RecordError(None, "project", "the project was deleted; nothing was imported")
            # New items' search vectors are built by a job once this commits (tasks.text_search).
            text_search.defer(True)
            new_ids = _IdRange()
            for written, annotations, updated, skipped in step(project, iter(records), on_duplicate, now, users, seen,
                                                                new_ids, unchecked):
                result.imported += written
                result.annotations += annotations
                result.updated += updated
                result.skipped += skipped
                if job is not None:
                    jobs.report_progress(job, result.imported + result.updated + result.skipped)
            filled = filled_tables(result)
            large = ITEM_TABLES[0] in filled
            if filled:
                # Fresh statistics now, not when autovacuum gets round to it: queries planned for the
                # tables as they were (nearly empty) would scan them whole, per chunk of an export.
                with connection.cursor() as cur:
                    cur.execute(f"ANALYZE {', '.join(filled)}")
                transaction.on_commit(lambda: _send(VACUUM_TASK, [list(filled)], "the imported rows stay unvacuumed"))
            text_search.defer(False)
            if new_ids.first is not None:
                text_search.mark_pending(project.pk, new_ids.first, new_ids.last)
                if text_search.enabled():
                    # A large import's vectors are vacuumed once built, as its rows are (`vacuum_imported`).
                    transaction.on_commit(lambda: _send(BUILD_SEARCH_TASK, [project.pk, large],
                                                        f"search vectors of project {project.pk} stay pending"))
            trail.record("items.imported", user=user, project=project, job=job.pk if job else None,
                         **result.as_dict())
            if job is not None:
                jobs.complete(job, result.as_dict())
    except IntegrityError:
        raise RecordError(None, "external_id", "another import added some of these external ids meanwhile; "
                                               "nothing was imported, try again") from None
    return result


class _IdRange:
    """The lowest and highest id of the items an import wrote (PostgreSQL: ids drawn up front)."""

    def __init__(self):
        self.first: int | None = None
        self.last: int | None = None

    def add(self, ids: list[int]) -> None:
        if ids:
            low, high = min(ids), max(ids)
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)


def _send(task: str, args: list, unsent: str) -> None:
    """Queue a follow-up job of an import (after its commit): its new items' search vectors (built in batches by
    `dataio.build_text_search`; until then search parses their text on the fly, and the next import of the
    project sends the job again) or the vacuum of a large import (`vacuum_imported`; autovacuum gets there
    too, later). With the broker unreachable the import still stands; the warning says what waits."""
    try:
        current_app.send_task(task, args=args)
    except BrokerUnavailable as exc:
        log.warning("%s: the broker is unreachable (%s)", unsent, exc)


def filled_tables(result: ImportResult) -> tuple[str, ...]:
    """The tables a PostgreSQL import wrote `ANALYZE_AFTER` rows or more into: the ones it analyzes, and the job
    after it vacuums.

    Only those: either command records the size a table has at that moment, and one the import left empty
    (the leases, after items without annotations) would be planned as empty from then on. The queue's
    statements, prepared once per connection, then scanned the whole leases table for every candidate item,
    a scan that grew with every lease until autovacuum analyzed the table again (measured after a 1M-item
    import: `next` took 0.3-0.5 ms more of PostgreSQL's CPU than after a 10k one, which is not analyzed)."""
    if connection.vendor != "postgresql":
        return ()
    return ((ITEM_TABLES if result.imported >= ANALYZE_AFTER else ())
            + (ANNOTATION_TABLES if result.annotations >= ANALYZE_AFTER else ()))


def vacuum_imported(tables: Iterable[str] = WRITTEN_TABLES) -> None:
    """VACUUM the tables an import filled (`filled_tables`): rows freshly copied in carry no hint bits and are
    not in the visibility map, so the first query to read each of them paid for checking its transaction and
    dirtied its page; at 100,000 annotated items that was a quarter of the first export's time. PostgreSQL only,
    outside a transaction (a Celery job); idempotent."""
    tables = list(tables)
    unknown = set(tables) - set(WRITTEN_TABLES)
    if unknown:  # the names come over the broker and go into the statement
        raise ValueError(f"not a table an import writes: {sorted(unknown)}")
    if tables:
        with connection.cursor() as cur:
            cur.execute(f"VACUUM {', '.join(tables)}")


def vacuum_search_vectors() -> None:
    """VACUUM the search vectors' table once a large import's vectors are built (a million rows inserted: else
    autovacuum starts on it and its index within the minute, while people label); PostgreSQL only, outside a
    transaction; idempotent."""
    with connection.cursor() as cur:
        cur.execute("VACUUM tasks_itemtext")


def _streamed_batches(project, records: Iterator[Record], on_duplicate, now, users: _Users, seen, new_ids: _IdRange,
                      unchecked: bool):
    """PostgreSQL, nothing to collide with: batches parsed while COPY inserts them; a batch that starts with a
    plain record leaves the columns the table's defaults fill out of its COPY, where they fill them as `_row`
    would."""
    plain = _row(project, Record(number=0, data={}, external_id=None, gold=None), now, users)
    narrow = _defaults_stand_in(plain, now)
    # What follows a plain record's data: `needed` in the narrow columns, every other column in the full ones.
    tails = {True: f"{plain['needed']}\n", False: _copy_line(plain, _ITEM_COLUMNS[4:])}
    first = next(records, None)
    ahead: item_ids.Ahead | None = None  # once a batch came full: the ids of each next one drawn during its COPY
    try:
        while first is not None:
            batch_narrow = narrow and _plain(first)
            ids = item_ids.reserve(STREAM_BATCH) if ahead is None else ahead.take()
            batch = _StreamedBatch(first, records, ids, project, now, users, batch_narrow, tails[batch_narrow])
            try:
                _copy_items(batch, unchecked, batch.columns)
            except Exception as exc:  # psycopg2's own error: copy_expert bypasses Django's wrapping
                if batch.error is not None:
                    raise batch.error from None
                repeated = _repeated_line(exc, batch.origins)
                if repeated is not None:
                    number, external_id, unit = repeated
                    raise RecordError(number, "external_id", f"{external_id!r} appears twice in this import",
                                      unit=unit) from None
                raise
            new_ids.add(batch.ids[:len(batch.origins)])
            record_accepted(project, batch.written)
            annotations = _insert_annotations(project, batch.written, now, users, unchecked)
            yield len(batch.origins), annotations, 0, 0
            if batch.held is not None:
                users.resolve([batch.held])
                first = batch.held
            elif batch.finished:
                return
            else:
                first = next(records, None)
                if ahead is None and first is not None:
                    ahead = item_ids.Ahead(STREAM_BATCH)
    finally:
        if ahead is not None:
            ahead.close()


def _repeated_line(exc: Exception, origins: list[tuple[int, str | None, str]]) -> tuple[int, str | None, str] | None:
    """The record (its number, external id and unit) a unique violation in COPY stopped at ("COPY tasks_item,
    line N")."""
    diag = getattr(exc, "diag", None)
    if getattr(exc, "pgcode", None) != "23505" or diag is None or not diag.context:
        return None
    match = re.search(r"COPY tasks_item, line (\d+)", diag.context)
    if match is None or int(match.group(1)) > len(origins):
        return None
    return origins[int(match.group(1)) - 1]


def _checked_batches(project, records: Iterator[Record], on_duplicate, now, users: _Users, seen, new_ids: _IdRange,
                     unchecked: bool):
    """Batches checked against the items the project has, then written."""
    for batch in _batches(records, BATCH):
        updated = skipped = 0
        existing = _existing(project, batch, seen)
        if existing:
            if on_duplicate == "error":
                first = next(r for r in batch if r.external_id in existing)
                raise RecordError(first.number, "external_id",
                                  f"{first.external_id!r} already exists in this project "
                                  f"(choose on_duplicate=skip or update)", unit=first.unit)
            dupes = [r for r in batch if r.external_id in existing]
            batch = [r for r in batch if r.external_id not in existing]
            if on_duplicate == "update":
                _update(project, dupes, existing, now)
                updated = len(dupes)
            else:
                skipped = len(dupes)
        users.resolve(batch)
        rows = [_row(project, r, now, users) for r in batch]
        annotations = _insert(project, batch, rows, now, users, unchecked) if rows else 0
        if rows and connection.vendor == "postgresql":
            new_ids.add([row["id"] for row in rows])
        yield len(rows), annotations, updated, skipped


def import_records(project: Project, records: Iterable[Record], *, user=None, job: Job | None = None) -> int:
    """Import new items (an external_id the project has is an error); the number imported."""
    return import_into(project, records, user=user, job=job).imported


def read_files(paths: list[tuple[str, str]], schema: Schema, options: ReadOptions, store: ImageStore,
               wrap=None) -> Iterator[Record]:
    """The records of several stored files (path, original name) one after the other."""
    for path, name in paths:
        with open(path, "rb") as stream:
            yield from read(wrap(stream) if wrap else stream, name, schema, options, media=store)


def _upload_size(uploads: list[UploadedFile]) -> int:
    total = sum(u.size for u in uploads)
    if total > settings.HITL_MAX_UPLOAD:
        raise BodyTooLarge(f"The upload is {total} bytes; uploads may be at most {settings.HITL_MAX_UPLOAD} bytes.")
    return total


def import_upload(project: Project, uploads: list[UploadedFile], options: ImportOptions, *,
                  user=None) -> ImportResult | Job:
    """Import uploaded files inline when small; otherwise keep them and start an import job."""
    total = _upload_size(uploads)
    for upload in uploads:
        format_of(upload.name, options.read, upload)  # an unsupported file is refused before anything is stored
    schema = schema_of(project)
    if total <= settings.HITL_INLINE_IMPORT_MAX_BYTES:
        store = ImageStore()
        records = (r for u in uploads for r in read(u, u.name, schema, options.read, media=store))
        result = import_into(project, records, on_duplicate=options.on_duplicate, user=user, store=store)
        store.keep()
        return result
    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for n, upload in enumerate(uploads):
        path = folder / f"{n}{Path(upload.name).suffix.lower()}"
        temporary = getattr(upload, "temporary_file_path", None)
        if temporary is not None:
            shutil.move(temporary(), path)  # already streamed to disk by the upload handler
        else:
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        stored.append([str(path), upload.name])
    with transaction.atomic():
        return jobs.create_job(IMPORT, project=project, user=user,
                               params={"files": stored, "folder": str(folder), **options.as_params()})


def run_import_job(job: Job) -> None:
    """The import job's work: import the stored upload, then remove it."""
    project = job.project
    files = job.params.get("files") or [[job.params["path"], job.params.get("filename", job.params["path"])]]
    if project is None or not all(os.path.exists(path) for path, _ in files):
        raise RecordError(None, "file", "the uploaded file is no longer available; upload it again")
    options = ImportOptions.from_params(job.params)
    store = ImageStore()
    import_into(project, read_files(files, schema_of(project), options.read, store),
                on_duplicate=options.on_duplicate, user=job.created_by, job=job, store=store)
    store.keep()
    folder = job.params.get("folder")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        for path, _ in files:
            os.remove(path)
