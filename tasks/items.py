"""The one writer of an item's life (status, final value, review reason).

Each function applies a rule of `tasks.lifecycle` and writes the result with its audit record;
a human final value also tells the apps that listen (`signals.human_final_label`, after commit).
Single items are written under the caller's row lock; `write_scored` (and `write_many`, its row
form) writes a batch set-based (pre-labeling), and imports take each new item's state from
`lifecycle.imported`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from audit import trail
from common import rows
from tasks import bulk, lifecycle, routing, signals
from tasks.lifecycle import Life
from tasks.models import Item


def settle(item: Item, *, agreed: bool, value: Any, escalated: bool, reason: str,
           low_agreement: bool = False, also: tuple[str, ...] = ()) -> None:
    """The annotators' consensus is final, or the item goes to review. Call holding its row lock.

    `also`: more of the item's fields to write with it (a submission's `annotation_count`, so that the row is
    written once, not twice)."""
    _write(item, lifecycle.settled(item.status, agreed=agreed, value=value, at=timezone.now(),
                                   escalated=escalated, low_agreement=low_agreement), reason=reason, also=also)


def ask_for_more(item: Item, *, priority: float, reason: str, also: tuple[str, ...] = ()) -> None:
    """Adaptive overlap: the item waits for one more annotation than it has, at `priority` in the queue.
    Call holding its row lock (its status stays: it is still waiting). `also`: as for `settle`."""
    item.needed = item.annotation_count + 1
    item.priority = priority
    rows.execute_all([rows.update_statement(item, ("needed", "priority", *also)),
                      trail.statement("item.more_annotations", project=item.project_id, item=item,
                                      needed=item.needed, reason=reason)])


def decide(item: Item, value: Any, *, user, reason: str) -> None:
    """A reviewer's value is final. Call holding the item's row lock."""
    _write(item, lifecycle.decided(item.status, value, timezone.now(), user.pk), user=user, reason=reason)


def create(project, data: Any, *, prediction: dict | None = None, confidence: float | None = None,
           band: str | None = None, priority: float = 0.0, needed: int | None = None, reason: str = "",
           user=None, awaited: bool = False) -> Item:
    """One new item outside an import (a live decision, `awaited`); its state follows `lifecycle.imported`:
    a prediction is routed by `band` (`tasks.routing`), without one it waits."""
    now = timezone.now()
    life = lifecycle.imported(predicted=prediction is not None, annotated=False, at=now,
                              band=band if prediction is not None else None,
                              predicted_value=None if prediction is None else prediction.get("value"))
    item = Item.objects.create(project=project, data=data, prediction=prediction, confidence=confidence,
                               priority=priority, needed=project.overlap if needed is None else needed,
                               awaited=awaited, **life.columns())
    if life.status == lifecycle.Status.IN_REVIEW:  # an audit sample: the model's value stands meanwhile
        trail.record("review.requested", project=item.project_id, item=item, reason=life.review_reason)
    elif life.final_source:
        trail.record("final.set", user=user, project=item.project_id, item=item, value=life.final_value,
                     source=life.final_source, reason=reason)
    return item


def escalate(item: Item, *, reason: str) -> None:
    """A waiting item goes to review (escalated). Call holding its row lock."""
    _write(item, lifecycle.escalated(item.status, item.final_source), reason=reason)


def accept_prediction(item: Item, value: Any, *, reason: str) -> None:
    """The model's value is final, as if its band had accepted it. Call holding the item's row lock."""
    _write(item, lifecycle.routed(item.status, item.final_source, routing.Band.AUTO_ACCEPT, value, timezone.now()),
           reason=reason)


def reopen_after_undo(item: Item) -> bool:
    """After an annotator's undo: an item their annotation settled waits again. Call holding its row lock."""
    life = lifecycle.after_undo(item.status, item.final_source, predicted=bool(item.prediction))
    if life is None:
        return False
    _apply(item, life)
    rows.update(item, _FIELDS)
    return True


def _write(item: Item, life: Life, *, user=None, reason: str = "", also: tuple[str, ...] = ()) -> None:
    _apply(item, life)
    # The row and its audit event in one round trip.
    if life.status == lifecycle.Status.IN_REVIEW:
        event = trail.statement("review.requested", project=item.project_id, item=item, reason=life.review_reason)
    else:
        event = trail.statement("final.set", user=user, project=item.project_id, item=item, value=life.final_value,
                                source=life.final_source, reason=reason)
    rows.execute_all([rows.update_statement(item, (*_FIELDS, *also)), event])
    if life.status != lifecycle.Status.IN_REVIEW and life.human_final:
        project_id, item_id = item.project_id, item.pk
        # The project row as the caller loaded it (the submission's lock does), so that listeners need not
        # read it again; None where it was not loaded.
        project = item.project if Item.project.is_cached(item) else None
        awaited = None if "awaited" in item.get_deferred_fields() else item.awaited
        signals.item_final.send(sender=Item, project_id=project_id, item_id=item_id, external_id=item.external_id,
                                value=life.final_value, source=str(life.final_source), at=life.final_at)
        transaction.on_commit(lambda: signals.human_final_label.send(sender=Item, project_id=project_id,
                                                                     item_id=item_id, project=project,
                                                                     awaited=awaited))


def reopen_after_retired(item: Item, *, reason: str, user=None) -> bool:
    """One of the item's annotations no longer counts: an item its annotators settled or disputed waits
    again. Call holding its row lock, with `annotation_count` already lowered."""
    life = lifecycle.after_retired(item.status, item.final_source, predicted=bool(item.prediction))
    if life is None:
        return False
    _apply(item, life)
    rows.execute_all([rows.update_statement(item, _FIELDS),
                      trail.statement("item.reopened", user=user, project=item.project_id, item=item, reason=reason)])
    return True


_FIELDS = tuple("final_by" if c == "final_by_id" else c for c in lifecycle.COLUMNS)


def _apply(item: Item, life: Life) -> None:
    for column, value in life.columns().items():
        setattr(item, column, value)


# Columns `write_many` sets besides the life ones.
_SCORE_COLUMNS = ("prediction", "confidence", "priority")
_MANY_COLUMNS = (*_SCORE_COLUMNS, "needed", "status", "final_value", "final_source", "final_at", "review_reason")
# What `write_many` expects an item still to be; one that changed since it was read keeps its life.
_STILL = "i.status = v.was_status AND i.final_source = v.was_source AND i.annotation_count = v.was_count"
_ROUTE_SQL = f"""
    UPDATE tasks_item AS i SET
        prediction = v.prediction::jsonb, confidence = v.confidence, priority = v.priority, updated_at = %s,
        {", ".join(f"{c} = CASE WHEN {_STILL} THEN v.{c}{'::jsonb' if c == 'final_value' else ''} ELSE i.{c} END"
                   for c in _MANY_COLUMNS[3:])}
    FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::float8[], %s::int[], %s::text[], %s::text[],
                %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::int[])
        AS v(id, prediction, confidence, priority, needed, status, final_value, final_source, final_at,
             review_reason, was_status, was_source, was_count)
    WHERE i.id = v.id AND i.id BETWEEN %s AND %s
    RETURNING i.id, i.status = v.status AND i.final_source = v.final_source
"""


@dataclass
class Scored:
    """A batch of items a model scored and routing placed, column by column (see `write_scored`).

    `prediction` and `final_value` are JSON text (None: SQL NULL); the life columns come from
    `lifecycle.routed`; `was_*` are the item's (status, final_source, annotation_count) as read.
    """

    ids: list[int]
    prediction: list[str | None]
    confidence: list[float]
    priority: list[float]
    needed: list[int]
    status: list[str]
    final_value: list[str | None]
    final_source: list[str]
    final_at: list[datetime | None]
    review_reason: list[str]
    was_status: list[str]
    was_source: list[str]
    was_count: list[int]
    _literals: list[str] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def literals(self) -> list[str]:
        """The columns as PostgreSQL array literals, in `_ROUTE_SQL`'s order; built once. A caller that
        writes from another thread builds them ahead in its own (Python work there would hold the GIL
        while the database waits for the statement)."""
        if self._literals is None:
            self._literals = [
                bulk.ints(self.ids), bulk.texts(self.prediction), bulk.floats(self.confidence),
                bulk.floats(self.priority), bulk.ints(self.needed), bulk.labels(self.status),
                bulk.texts(self.final_value), bulk.labels(self.final_source), bulk.timestamps(self.final_at),
                bulk.labels(self.review_reason), bulk.labels(self.was_status), bulk.labels(self.was_source),
                bulk.ints(self.was_count)]
        return self._literals


def _dump(v) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


def write_many(rows: Sequence[dict[str, Any]], now) -> set[int]:
    """Write a batch of items a model scored; returns the ids whose life was written.

    Each row has the item's "id", its score columns, its "needed", its new "life" (a `Life` from
    `lifecycle.routed`) and "was": the (status, final_source, annotation_count) it was read with.
    Scores are always written; the life only where the item is still as it was read (an annotation
    that settled it meanwhile stands). See `write_scored`, which this calls.
    """
    lives = [r["life"] for r in rows]
    return write_scored(Scored(
        ids=[r["id"] for r in rows], prediction=[_dump(r["prediction"]) for r in rows],
        confidence=[r["confidence"] for r in rows], priority=[r["priority"] for r in rows],
        needed=[r["needed"] for r in rows], status=[str(life.status) for life in lives],
        final_value=[_dump(life.final_value) for life in lives],
        final_source=[str(life.final_source) for life in lives],
        final_at=[life.final_at for life in lives], review_reason=[str(life.review_reason) for life in lives],
        was_status=[str(r["was"][0]) for r in rows], was_source=[str(r["was"][1]) for r in rows],
        was_count=[r["was"][2] for r in rows]), now).written


@dataclass(frozen=True)
class Routed:
    """What `write_scored` wrote: the batch's items that still exist (their scores written, their rows locked
    until the transaction ends), and those whose life was written too."""

    updated: list[int]
    written: set[int]


def write_scored(batch: Scored, now) -> Routed:
    """Write a batch of items a model scored (pre-labeling, imported predictions).

    Scores are always written; the life only where the item is still as it was read (an annotation
    that settled it meanwhile stands). On PostgreSQL: one UPDATE ... FROM unnest(arrays), each column
    one array literal (`tasks.bulk`); SQLite runs one writing transaction at a time, so nothing changes
    between the read and this write there.
    """
    if not len(batch):
        return Routed([], set())
    if connection.vendor == "postgresql":
        # The batch's id range as well: the planner then reads just those rows off the primary key. Without
        # it, it hashed the whole table for every batch (58 ms of 350 at 100,000 items, more as it grows).
        with connection.cursor() as cur:
            cur.execute(_ROUTE_SQL, [now, *batch.literals(), min(batch.ids), max(batch.ids)])
            returned = cur.fetchall()
            return Routed([pk for pk, _ in returned], {pk for pk, written in returned if written})
    items = []
    for k, pk in enumerate(batch.ids):
        item = Item(id=pk, updated_at=now, prediction=_load(batch.prediction[k]), confidence=batch.confidence[k],
                    priority=batch.priority[k], needed=batch.needed[k], status=batch.status[k],
                    final_value=_load(batch.final_value[k]), final_source=batch.final_source[k],
                    final_at=batch.final_at[k], review_reason=batch.review_reason[k])
        items.append(item)
    Item.objects.bulk_update(items, [*_MANY_COLUMNS, "updated_at"], batch_size=500)
    return Routed(list(batch.ids), set(batch.ids))


def _load(text: str | None):
    return None if text is None else orjson.loads(text)


def give_gold(item: Item, value: Any, now) -> tuple[str, ...]:
    """Make `value` the item's gold, and final; returns the fields for the caller's (bulk) save."""
    item.gold = value
    _apply(item, lifecycle.gold(value, now))
    return ("gold", *_FIELDS)
