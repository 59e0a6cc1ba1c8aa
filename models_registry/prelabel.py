"""Pre-labeling: the active model scores every item without a human final value, and routing
decides where each goes. Batches of items, set-based writes, all committed at the end: a failure (an
unreachable external model, say) changes nothing.

Built for a million items in about a minute with flat memory: items are read in keyset batches of
`BATCH` (their data as JSON text, decoded by orjson), scored a batch at a time, routed with numpy
(`tasks.routing`; the lifecycle rule is asked once per distinct (status, source, band), not per
item), and written set-based from arrays (`tasks.bulk`): the predictions with one INSERT ... ON
CONFLICT, the items with one UPDATE by `tasks.items.write_scored`, the one writer of an item's
status. Batch k is written in another thread while batch k+1 is scored (`_Writers`); on PostgreSQL, by
turns on two more connections, each in a transaction that commits with the job's (`_writing_connections`).
"""
from __future__ import annotations

import concurrent.futures
import json
import math
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Max, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from common import row_checks
from models_registry import artifacts, external_metrics
from models_registry.backends import BACKENDS, Backend, BackendError, builtin_for
from models_registry.backends.external_http import ExternalHTTPBackend
from models_registry.models import ModelVersion, Prediction
from models_registry.scoring import priorities, structured_priorities
from tasks import bulk, items, jobs, lifecycle, routing
from tasks.models import FinalSource, Item, ItemStatus, Job, Project

BATCH = 10_000


def targets(project: Project):
    """Items the model decides about: waiting ones, and ones an earlier model accepted."""
    return Item.objects.filter(project=project).filter(
        Q(final_source="", status__in=lifecycle.LABELABLE)
        | Q(final_source=lifecycle.Source.MODEL, status=lifecycle.Status.AUTO_ACCEPTED)
    )


@dataclass
class Outcome:
    scored: int = 0
    unreadable: int = 0
    bands: dict[str, int] = field(default_factory=dict)
    written: int = 0  # scored or unreadable items whose batch is written (the job's progress)

    def add(self, batch: _Batch) -> None:
        self.scored += len(batch.ids)
        self.unreadable += batch.unreadable
        for b, n in batch.bands.items():
            self.bands[b] = self.bands.get(b, 0) + n


def _report(job: Job | None, outcome: Outcome, total: int, written: int) -> None:
    if job is not None and outcome.written < written:
        outcome.written = written
        jobs.report_progress(job, written, total=total)


def _backend(project: Project, mv: ModelVersion | None, sample: dict) -> tuple[Backend, object]:
    if project.model_backend == "http":
        if not project.model_endpoint:
            raise BackendError("The project names no model endpoint.")
        return ExternalHTTPBackend(project.task_type, list(project.labels), project.model_endpoint,
                                   project.model_timeout, questions=project.questions), None
    if mv is None:
        raise BackendError("The project has no active model; train one (or activate a version) first.")
    backend_cls = BACKENDS.get(mv.backend) or builtin_for(sample)
    return backend_cls(project.task_type, list(mv.labels)), artifacts.load(mv.artifact.name, mv.artifact_sha256)


def _external_version(project: Project) -> ModelVersion:
    """External models get a registry row too, so predictions say where they came from."""
    mv = (ModelVersion.objects.filter(project=project, backend="http", labels=project.labels)
          .order_by("-version").first())
    if mv is None:
        version = (ModelVersion.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        mv = ModelVersion.objects.create(project=project, version=version, backend="http",
                                         labels=list(project.labels), metrics={"endpoint": project.model_endpoint})
    return mv


def prelabel(project: Project, *, user=None, job: Job | None = None, seed: int | None = None) -> Outcome:
    """Score and route every target item of the project with its active (or external) model.

    The audit sample is fixed by (item, model version, `seed`), so a re-run changes nothing.
    """
    thresholds = routing.Thresholds.of(project)
    outcome = Outcome()
    # Asked before the job's transaction begins: a caller's open transaction may hold rows that a second
    # connection cannot see, and an external model's version row may be created below.
    separate = connection.vendor == "postgresql" and not connection.in_atomic_block and project.model_backend != "http"
    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return outcome
        mv = ModelVersion.objects.active_for(project)
        first = targets(project).order_by("id").values("data").first()
        if first is None:
            if job is not None:
                jobs.complete(job, {"scored": 0})
            return outcome
        backend, model = _backend(project, mv, first["data"])
        if project.model_backend == "http":
            mv = _external_version(project)
        total = targets(project).count()
        if job is not None:
            jobs.report_progress(job, 0, total=total)
        with _writing_connections(separate) as writing:
            _score_and_write(project, mv, backend, model, thresholds, seed or 0, job, total, outcome, writing)
            if project.model_backend == "http":  # its metrics on the human labels, for the models page
                external_metrics.evaluate(project, backend, mv)
            trail.record("items.prelabeled", user=user, project=project, model_version=mv.version,
                         scored=outcome.scored, bands=outcome.bands)
            if job is not None:
                jobs.complete(job, {"scored": outcome.scored, "unreadable": outcome.unreadable,
                                    "bands": outcome.bands, "model_version": mv.version})
    return outcome


def _score_and_write(project, mv, backend, model, thresholds, seed: int, job, total: int, outcome: Outcome,
                     writing: list) -> None:
    """Every target, in keyset batches: batch k is written (`_Writers`) while batch k+1 is scored."""
    now = timezone.now()
    with _Writers(writing, mv) as writers:
        rows = _read(project, 0)
        while rows:
            last_id = rows[-1][0]
            batch = _score_batch(project, mv, backend, model, rows, thresholds, seed, now)
            del rows
            writers.ready()
            _report(job, outcome, total, writers.written)
            rows = _read(project, last_id)
            writers.submit(batch, now)
            outcome.add(batch)
        for _ in writers.finish():
            _report(job, outcome, total, writers.written)


def _read(project: Project, last_id: int) -> list[tuple]:
    """The next keyset batch of targets: (id, data as JSON text, status, final_source, annotation_count,
    needed, final_value as JSON text). The JSON stays text until `_decode` (orjson: several times json's speed); on
    PostgreSQL the ORM's SQL runs on a plain cursor (no per-row converters: psycopg2 decodes jsonb)."""
    qs = (targets(project).filter(id__gt=last_id).order_by("id")
          .annotate(data_text=Cast("data", output_field=TextField()),
                    final_text=Cast("final_value", output_field=TextField()))
          .values_list("id", "data_text", "status", "final_source", "annotation_count", "needed", "final_text")
          [:BATCH])
    if connection.vendor != "postgresql":
        return list(qs)
    sql, params = qs.query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _decode(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (e.g. integers past 64 bits), json reads
        return json.loads(text)


def _dump(value) -> str:
    return orjson.dumps(value).decode()


def _number(x: float) -> str:
    """A float as JSON (as orjson writes it: null if not finite)."""
    return repr(x) if math.isfinite(x) else "null"


# Stands for "the predicted value" in a routed life asked once for many items (`_lives`).
_MODEL_VALUE = object()


@dataclass
class _Batch:
    """A scored and routed batch, ready to write: the predictions, the items' columns, the audit events
    (to keep for the items whose routing is written)."""

    ids: list[int]
    value_json: list[str]
    confidence: np.ndarray
    scores_json: list[str]
    items: items.Scored
    events: list[AuditEvent]
    unreadable: int
    bands: dict[str, int]
    # PostgreSQL: the predictions' columns as array literals, built while scoring (`items.Scored.literals`).
    prediction_literals: list[str] | None = None

    def literals_of(self, rows) -> list[str]:
        """The predictions' columns of these rows (indexes into `ids`) as array literals (`tasks.bulk`)."""
        rows = list(rows)
        return [bulk.ints(self.ids[k] for k in rows), bulk.texts(self.value_json[k] for k in rows),
                bulk.floats(self.confidence[rows].tolist()), bulk.texts(self.scores_json[k] for k in rows)]


def _score_batch(project, mv, backend, model, rows, thresholds, seed: int, now) -> _Batch:
    """Score and route one batch of `_read` rows. No database: this runs while the previous batch is written."""
    ids, texts, status, source, count, needed_was, final_was = (list(c) for c in zip(*rows))
    result = backend.predict_values(model, [_decode(t) for t in texts], ids=ids)
    del texts
    values, confidence = result.values, np.asarray(result.confidence, dtype=float)
    if project.strategy == "random":
        # A random order that stays put when pre-labeling runs again.
        priority = routing.audit_draws(ids, salt=0x5EED)
    elif result.probs is not None:
        priority = priorities(project.strategy, result.probs, multi_label=project.task_type == "multi_label")
    else:
        priority = structured_priorities(project.strategy, confidence, result.uncertainty)
    # Items nobody has annotated may be accepted by the model; the others only get the
    # prediction, a new priority and, if the model is unsure, more annotations.
    band = routing.bands(confidence, thresholds, draws=routing.audit_draws(ids, salt=mv.pk * 1_000_003 + seed))
    annotated = np.asarray(count) > 0
    settling = (routing.Band.AUTO_ACCEPT.value, routing.Band.AUDIT.value)
    band[annotated & np.isin(band, settling)] = routing.Band.NORMAL.value
    needed = np.where(band == routing.Band.ESCALATE.value, thresholds.escalated_overlap, thresholds.overlap)
    needed = np.where(annotated, np.maximum(needed, np.asarray(needed_was)), needed)

    readable = np.asarray(result.ok, dtype=bool)
    ok = np.flatnonzero(readable)
    take = ok.tolist()
    bands = {str(b): int(n) for b, n in zip(*np.unique(band[ok], return_counts=True))}
    ok_ids = [ids[k] for k in take]
    value_json = [_dump(values[k]) for k in take]
    scores_json = [_dump(result.scores[k]) for k in take]
    answers = result.answers or [None] * len(ids)
    # The item's copy of the prediction, {"model_version", "value", "confidence", "scores"[, "answers"]}, put
    # together from the JSON already made (the column is jsonb: spacing and key order are its own).
    head = '{"model_version":%d,"value":' % mv.version
    snapshots = [f'{head}{vj},"confidence":{_number(round(float(confidence[k]), 6))},"scores":{sj}'
                 + (f',"answers":{_dump(answers[k])}}}' if answers[k] else "}")
                 for k, vj, sj in zip(take, value_json, scores_json)]
    lives, code = _lives([status[k] for k in take], [source[k] for k in take], band[ok].tolist(), now)
    scored = items.Scored(
        ids=ok_ids, prediction=snapshots, confidence=confidence[ok].tolist(),
        priority=np.asarray(priority, dtype=float)[ok].tolist(), needed=needed[ok].tolist(),
        status=[lives[c].status for c in code],
        final_value=[vj if lives[c].final_value is _MODEL_VALUE else None for c, vj in zip(code, value_json)],
        final_source=[lives[c].final_source for c in code], final_at=[lives[c].final_at for c in code],
        review_reason=[lives[c].review_reason for c in code],
        was_status=[status[k] for k in take], was_source=[source[k] for k in take], was_count=[count[k] for k in take])

    # The model's value becomes final (accepted, or accepted pending an audit): one audit event each.
    events = []
    for k in np.flatnonzero(np.isin(band, settling) & readable).tolist():
        b = band[k]
        unchanged = (b == routing.Band.AUTO_ACCEPT and status[k] == ItemStatus.AUTO_ACCEPTED
                     and final_was[k] is not None and _decode(final_was[k]) == values[k])
        if not unchanged:
            events.append(AuditEvent(project_id=project.pk, item_id=ids[k], action="final.set",
                                     payload={"value": values[k], "source": FinalSource.MODEL,
                                              "model_version": mv.version, "confidence": round(float(confidence[k]), 6),
                                              "audit": b == routing.Band.AUDIT}))
    batch = _Batch(ok_ids, value_json, confidence[ok], scores_json, scored, events,
                   unreadable=len(ids) - len(ok), bands=bands)
    if connection.vendor == "postgresql":  # built here, not in the writing thread (see `items.Scored.literals`)
        scored.literals()
        batch.prediction_literals = batch.literals_of(range(len(ok_ids)))
    return batch


def _write_batch(mv: ModelVersion, batch: _Batch, now, unchecked: bool) -> None:
    """The items' routing first: their rows are then locked until the transaction ends, so that the predictions
    of those still there may go in without a foreign-key check each (`unchecked`, see `_Writers`)."""
    if not batch.ids:
        return
    routed = items.write_scored(batch.items, now)
    _write_predictions(mv, batch, now, routed.updated, unchecked)
    trail.record_many([e for e in batch.events if e.item_id in routed.written])


# Connections that write batches by turns (PostgreSQL, outside a caller's transaction): see `_writing_connections`.
WRITING_CONNECTIONS = 2
# How long a writing connection may wait for a lock: see `_writing_connections`.
WRITING_LOCK_TIMEOUT = "30s"


@contextmanager
def _writing_connections(wanted: bool):
    """`WRITING_CONNECTIONS` more PostgreSQL connections that write the batches by turns, each a whole batch
    (predictions, routing, audit events) in its own transaction; none unless `wanted` (the job's connection
    writes them then). On one connection PostgreSQL was the job's bottleneck, working on one core while the
    scoring used the other only in part; on two, it works on both.

    Whole batches, not the predictions on one connection and the routing on the other: a row that two open
    transactions both touch (the predictions' foreign-key check share-locks the item the routing updates)
    gets a MultiXact, which made the job slower than on one connection.

    Their transactions commit when the block ends, after the job's last statement and just before the job's
    own transaction (the job's row says "succeeded" only after all of them), and roll back on any error: a
    failed run changes nothing. In the one gap, a crash between the commits, some batches are routed and the
    job is not finished: it runs again and routes the rest; what it already routed it routes the same way
    (the audit draws are fixed, an accepted item with the same value gets no second audit event, and the
    predictions' INSERT replaces the version's own rows).

    A writing connection may wait for a lock held by a third transaction that itself waits for a row the
    job's transaction or the other writing connection holds: PostgreSQL cannot see that the job waits for
    the writing connection in Python, so it would never break that cycle; `lock_timeout` turns it into an
    error (the job fails, and can be retried).
    """
    if not wanted:
        yield []
        return
    opened = []
    try:
        for _ in range(WRITING_CONNECTIONS):
            opened.append(connection.copy())
            _begin(opened[-1])
        yield opened
        for conn in opened:
            conn.commit()
    finally:
        for conn in opened:
            conn.close()  # before its commit: PostgreSQL rolls its transaction back


def _begin(conn) -> None:
    """A writing connection's transaction: its lock timeout, and the predictions' foreign keys checked per
    statement (see `_checked_per_statement`)."""
    conn.set_autocommit(False)
    with conn.cursor() as cur:
        cur.execute("SET LOCAL lock_timeout = %s", [WRITING_LOCK_TIMEOUT])
        _foreign_keys_immediate(cur, conn, Prediction)


def _foreign_keys_immediate(cur, conn, model) -> list[str]:
    """The model's deferred foreign keys made IMMEDIATE in `conn`'s transaction; returns their names."""
    cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
                "AND condeferrable AND condeferred", [model._meta.db_table])
    names = [conn.ops.quote_name(name) for (name,) in cur.fetchall()]
    if names:
        cur.execute(f"SET CONSTRAINTS {', '.join(names)} IMMEDIATE")
    return names


@contextmanager
def _checked_per_statement(model):
    """The model's foreign keys checked at the end of each INSERT rather than all at commit (Django's are
    DEFERRABLE INITIALLY DEFERRED). Same checks, but while the rows they look up were just read or written
    (in memory): at commit, a million predictions' checks walked a million items out of cache again
    (20 s of a 165 s run). Restored afterwards; a rollback restores it by itself."""
    names: list[str] = []
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            names = _foreign_keys_immediate(cur, connection, model)
    yield
    if names:
        with connection.cursor() as cur:
            cur.execute(f"SET CONSTRAINTS {', '.join(names)} DEFERRED")


class _Writers:
    """Where scored batches go, each written while the next one is scored: by turns on the writing
    connections (`_writing_connections`), or, without them, on the job's connection (`_Writer`)."""

    def __init__(self, writing: list, mv: ModelVersion):
        self.mv = mv
        self.unchecked = False
        if writing:
            self.writers = [_Writer(conn) for conn in writing]
        else:
            self.writers = [_Writer(connections[DEFAULT_DB_ALIAS] if connection.vendor == "postgresql" else None)]
        self.on_job_connection = not writing
        self.submitted = 0
        self.stack = ExitStack()

    def __enter__(self) -> _Writers:
        if self.on_job_connection:  # entered first: restored once the writers are done
            self.stack.enter_context(_checked_per_statement(Prediction))
        # The predictions reference their version, held once in each writing transaction, and their items, which
        # the batch's routing locks before they go in (`_write_batch`): no foreign-key check per prediction.
        if row_checks.may_skip():
            table, pk = ModelVersion._meta.db_table, [self.mv.pk]
            self.unchecked = all(row_checks.hold(table, pk, w.conn or connection) for w in self.writers)
        for writer in self.writers:
            self.stack.enter_context(writer)
        return self

    def submit(self, batch: _Batch, now) -> None:
        """Write `batch` on the next writer in turn, once that writer's previous batch is written."""
        writer = self._next()
        self.submitted += 1
        writer.submit(len(batch.ids) + batch.unreadable, _write_batch, self.mv, batch, now, self.unchecked)

    def ready(self) -> None:
        """Until the writer of the next batch has written its previous one (without writing connections, that
        writer has the job's connection, which this thread reads on next)."""
        self._next().wait()

    def _next(self) -> _Writer:
        return self.writers[self.submitted % len(self.writers)]

    def finish(self):
        """Until every writer's batch is written, one writer after the other (yields after each, so that
        the job's progress shows the first while the second writes)."""
        for writer in self.writers:
            writer.wait()
            yield

    @property
    def written(self) -> int:
        """Scored or unreadable items whose batch is written (the job's progress)."""
        return sum(writer.written for writer in self.writers)

    def __exit__(self, *exc) -> bool | None:
        return self.stack.__exit__(*exc)


class _Writer:
    """Writes one batch at a time in a thread of its own, on `conn` (this thread's connection and transaction,
    or a writing connection), while this thread scores the next one (the model's Python work and PostgreSQL's
    share the cores).

    Only one thread uses `conn` at a time: `wait` before anything else touches it. The writing thread
    borrows it as its default connection through Django's thread sharing. Without `conn` (SQLite: one
    connection that must stay in its thread) it writes in line.
    """

    def __init__(self, conn):
        self.conn = conn
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future | None = None
        self.pending_items = 0
        self.written = 0  # items of the batches written

    def __enter__(self) -> _Writer:
        if self.conn is not None:
            self.conn.inc_thread_sharing()
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prelabel-writer",
                                           initializer=self._borrow, initargs=(self.conn,))
        return self

    @staticmethod
    def _borrow(conn) -> None:
        connections[DEFAULT_DB_ALIAS] = conn

    def submit(self, items: int, fn, *args) -> None:
        """`fn(*args)`, which writes a batch of `items`, once the previous one is written."""
        self.wait()
        if self.pool is None:
            fn(*args)
            self.written += items
        else:
            self.pending, self.pending_items = self.pool.submit(fn, *args), items

    def wait(self) -> None:
        """Until the batch being written is (its error, if any, raised here)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()
            self.written += self.pending_items

    def __exit__(self, *exc) -> None:
        try:
            if self.pending is not None:
                concurrent.futures.wait([self.pending])  # never leave the connection in use; an error is raised
                if exc[0] is None:                        # unless one is already on its way
                    self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
                self.conn.dec_thread_sharing()


def _lives(status: list[str], source: list[str], band: list[str], now) -> tuple[list[lifecycle.Life], list[int]]:
    """The routed life of each item (`lifecycle.routed`, which also refuses an illegal transition), asked
    once per distinct (status, final_source, band): the lives, and each item's index into them. A life
    whose final value is the model's holds `_MODEL_VALUE` in its place."""
    index: dict[tuple[str, str, str], int] = {}
    code = [index.setdefault(key, len(index)) for key in zip(status, source, band)]
    lives = [lifecycle.routed(s, f, b, _MODEL_VALUE, now) for s, f, b in index]
    return lives, code


_INSERT_PREDICTIONS = f"""
    INSERT INTO {Prediction._meta.db_table} (item_id, model_version_id, value, confidence, scores, created_at)
    SELECT v.item_id, %s, v.value::jsonb, v.confidence, v.scores::jsonb, %s
    FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::text[]) AS v(item_id, value, confidence, scores)
    ON CONFLICT (item_id, model_version_id) DO UPDATE
        SET value = EXCLUDED.value, confidence = EXCLUDED.confidence, scores = EXCLUDED.scores
"""


def _write_predictions(mv: ModelVersion, batch: _Batch, now, updated: list[int], unchecked: bool) -> None:
    """Store the version's predictions of the `updated` items (those of the batch still there; a re-run replaces
    the version's own): one INSERT ... ON CONFLICT from arrays (`tasks.bulk`) on PostgreSQL, bulk_create
    elsewhere. `unchecked`: without a foreign-key check per row (`row_checks`; the table has no other trigger)."""
    if batch.prediction_literals is None:
        Prediction.objects.bulk_create(
            [Prediction(item_id=pk, model_version=mv, value=orjson.loads(v), confidence=float(c),
                        scores=orjson.loads(s))
             for pk, v, c, s in zip(batch.ids, batch.value_json, batch.confidence, batch.scores_json)],
            batch_size=BATCH, update_conflicts=True, unique_fields=["item", "model_version"],
            update_fields=["value", "confidence", "scores"])
        return
    literals = batch.prediction_literals
    if len(updated) < len(batch.ids):  # items deleted since they were read: none of their predictions
        still = set(updated)
        literals = batch.literals_of([k for k, pk in enumerate(batch.ids) if pk in still])
    with row_checks.unchecked(unchecked), connection.cursor() as cur:
        cur.execute(_INSERT_PREDICTIONS, [mv.pk, now, *literals])
