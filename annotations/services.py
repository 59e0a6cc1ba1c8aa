"""Submitting annotations: validate, store, and settle the item once it has enough."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts import permissions
from annotations import adaptive, guards, quality, rework, truth
from annotations.consensus import decide
from annotations.models import Annotation
from audit import trail
from common import prepared, rows
from common.errors import Conflict, Invalid
from tasks import items, questions
from tasks.access import check_role, get_item, lock_item
from tasks.models import LABELABLE, Assignment, FinalSource, Item, LeaseState
from tasks.values import ValueShapeError


class AlreadyAnnotated(Conflict):
    default_detail = "You have already submitted an annotation for this item."


class NoLongerNeeded(Conflict):
    default_detail = ("This item no longer needs your annotation: it got all the annotations it needs while "
                      "your lease had expired. Ask for the next item.")


@dataclass(frozen=True)
class Submission:
    value: Any = None
    skip: bool = False
    lead_time: float | None = None


def check_submission(item: Item, submission: Submission) -> Any:
    """The normalised value, or a 400 naming the field that does not fit the project."""
    if submission.skip:
        return None
    if submission.value is None:
        raise Invalid({"value": ["This field is required (or send {\"skip\": true})."]})
    project = item.project
    try:
        return questions.validate_value_with_answers(project.task_type, project.labels, project.questions,
                                                     submission.value, item.data)
    except ValueShapeError as exc:
        raise Invalid({exc.field: [exc.message]}) from None


def submit_annotation(user, item_id: int, submission: Submission) -> Annotation:
    """Store the caller's annotation (or skip) of an item.

    Accepted whenever the caller may label the project and has not annotated the item yet.
    After the caller's lease expired, an answer is still kept if the item has room for it:
    still waiting, and fewer annotations plus other people's live leases than it needs (gold
    items always have room). Otherwise it answers 409 `NoLongerNeeded` and stores nothing; a
    late skip is always recorded. The item is settled (consensus or review) once it has as
    many annotations as it needs.
    """
    with transaction.atomic():
        # The row lock (`tasks.access.lock_item`) serialises this with `next` and with other submissions
        # for the item.
        item = lock_item(user, item_id)
        check_role(user, permissions.LABEL, "label items")
        return submit_locked(user, item, submission)


# What a submission needs to know about the item beyond its row, read in one statement after its lock is
# held (so it sees everything committed before): the caller's annotation, the caller's live lease, the
# live leases on it, feedback that an answer of the caller reworks (`rework.mark_reworked`), and on
# PostgreSQL the key the annotation will have (taken from its sequence, so that its INSERT can go with the
# other writes in one round trip; a refused submission leaves a gap in the keys, nothing else).
_SITUATION_SQL = """
SELECT
  EXISTS (SELECT 1 FROM annotations_annotation WHERE item_id = %(item)s AND user_id = %(user)s),
  EXISTS (SELECT 1 FROM tasks_assignment WHERE item_id = %(item)s AND user_id = %(user)s
          AND state = 'leased' AND expires_at > %(now)s),
  (SELECT COUNT(*) FROM tasks_assignment WHERE item_id = %(item)s AND state = 'leased' AND expires_at > %(now)s),
  EXISTS (SELECT 1 FROM annotations_feedback WHERE item_id = %(item)s AND reworked_at IS NULL
          AND (rework_by_id = %(user)s OR rework_by_id IS NULL)),
  {key}
"""
_NEXT_KEY = {"postgresql": "nextval(pg_get_serial_sequence('annotations_annotation', 'id'))"}


# The caller's assignment row of the item ends (one row per item and user; one is made for an answer
# without a lease). Parameters: project, item, user, state, and the time thrice.
_CLOSE_SQL = """
INSERT INTO tasks_assignment (project_id, item_id, user_id, state, leased_at, expires_at, finished_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (item_id, user_id) DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at
"""
_COUNT_SQL = "UPDATE tasks_item SET annotation_count = annotation_count + 1 WHERE id = %s"


@dataclass(frozen=True)
class _Situation:
    annotated: bool  # the caller already annotated (or skipped) the item
    own_lease: bool  # the caller holds a live lease on it
    live_leases: int  # everyone's live leases on it
    feedback: bool  # feedback waits for an answer of the caller
    key: int | None  # the annotation's primary key, where the database hands it out beforehand


def _situation(item: Item, user, now) -> _Situation:
    sql = _SITUATION_SQL.format(key=_NEXT_KEY.get(connection.vendor, "NULL"))
    with connection.cursor() as cur:
        prepared.execute(cur, sql, {"item": item.pk, "user": user.pk, "now": rows.moment(now)})
        annotated, own_lease, live_leases, feedback, key = cur.fetchone()
    return _Situation(bool(annotated), bool(own_lease), int(live_leases), bool(feedback), key)


def submit_locked(user, item: Item, submission: Submission) -> Annotation:
    """`submit_annotation` for an item the caller already locked (`lock_item`) in the current transaction,
    after the role check."""
    value = check_submission(item, submission)
    now = timezone.now()  # after the wait for the lock: leases are judged as they are now
    situation = _situation(item, user, now)
    if situation.annotated:
        raise AlreadyAnnotated()
    if not submission.skip and not _has_place(item, situation):
        raise NoLongerNeeded()
    annotation = Annotation(pk=situation.key, project_id=item.project_id, item=item, user=user, value=value,
                            skipped=submission.skip, lead_time=submission.lead_time)
    if situation.key is None:
        rows.insert(annotation)
    # The annotation (where its key is known), the assignment ends, the audit event, the item's count and, where
    # this answer settles the item, its final state: sent together, with the read that follows them
    # (`rows.together`). An answer that settles the item writes its count with the settlement: one new version
    # of the item's row (and of each of its index entries) rather than two.
    state = LeaseState.SKIPPED if submission.skip else LeaseState.SUBMITTED
    settles = not submission.skip and item.status in LABELABLE and item.annotation_count + 1 >= item.needed
    at = rows.moment(now)
    with rows.together():
        rows.execute_all([
            *([] if situation.key is None else [rows.insert_statement(annotation)]),
            (_CLOSE_SQL, [item.project_id, item.pk, user.pk, state.value, at, at, at]),
            trail.statement("annotation.skipped" if submission.skip else "annotation.submitted", user=user,
                            project=item.project_id, item=item, annotation=annotation.pk, value=value,
                            lead_time=submission.lead_time),
            *([] if submission.skip or settles else [(_COUNT_SQL, [item.pk])]),
        ])
        if not submission.skip and situation.feedback:
            rework.mark_reworked(item, user, now)  # the reviewer's feedback on this item is answered
        if item.gold is not None and not submission.skip:
            annotation.gold_result = quality.score_gold(item, user, value)
        if not submission.skip:
            item.annotation_count += 1
            if settles:
                # The count is of the item's non-skipped annotations: at one, this value is all of them.
                settle(item, [_as_stored(value)] if item.annotation_count == 1 else None, also=("annotation_count",))
            guards.check(item.project, user, now)
    return annotation


def _as_stored(value: Any) -> Any:
    """The value as reading it back from the database would give it (JSON: tuples become lists, ...)."""
    field = Annotation._meta.get_field("value")
    return json.loads(json.dumps(value, cls=field.encoder), cls=field.decoder)


def _has_place(item: Item, situation: _Situation) -> bool:
    """Whether the caller's answer counts: their live lease, or room left on a waiting item."""
    if item.gold is not None or situation.own_lease:
        return True
    return item.status in LABELABLE and item.annotation_count + situation.live_leases < item.needed


def settle(item: Item, values: list | None = None, also: tuple[str, ...] = ()) -> None:
    """Decide an item that has all its annotations. Call while holding its row lock.

    `values` are the item's non-skipped annotation values in order, when the caller already knows them
    (a submission that is the item's only annotation); otherwise they are read. `also`: more of the item's
    fields its write carries (`tasks.items.settle`).

    The task type's majority rule (`annotations.consensus`) decides, except in classification
    projects whose `consensus_method` is "dawid_skene": there `annotations.truth` decides by
    Dawid–Skene over the project's annotations so far (falling back to majority with too little data);
    and with adaptive overlap, `annotations.adaptive` settles it, asks for one more annotation, or sends it
    to review.
    """
    project = item.project
    if values is None:
        values = list(Annotation.objects.filter(item=item, skipped=False).order_by("id")
                      .values_list("value", flat=True))
    reason = f"{len(values)} annotators agreed"
    adaptive_overlap = adaptive.applies(project)
    if adaptive_overlap:
        verdict = adaptive.judge(item)
        if verdict.more:
            items.ask_for_more(item, priority=adaptive.priority(verdict), reason=verdict.reason, also=also)
            return
        assert verdict.outcome is not None
        outcome, reason = verdict.outcome, verdict.reason
    elif truth.uses_dawid_skene(project):
        decision = truth.settle_by_dawid_skene(item, values)
        outcome = decision.outcome
        if decision.method == truth.DAWID_SKENE:
            reason = f"Dawid–Skene over {len(values)} annotations (posterior {decision.posterior})"
    else:
        outcome = decide(project.task_type, values, iou=project.consensus_iou)
    value, low_agreement = outcome.value, False
    if project.questions:
        # The rubric's answers join the main label's consensus (`tasks.questions.aggregate`); ratings
        # that spread more than the project allows send an agreed item to review.
        rubric = questions.validate_questions(project.questions)
        low_agreement = questions.low_agreement(rubric, values, project.question_spread)
        if outcome.agreed:
            value = {**outcome.value, "answers": questions.aggregate(rubric, values)}
            if low_agreement:
                reason = f"ratings spread more than {project.question_spread}"
    # An item routed for more annotations because the model was unsure, and still disputed, is escalated
    # (adaptive overlap raises `needed` itself: its disputes are plain disagreements).
    escalated = item.needed > project.overlap and not adaptive_overlap
    items.settle(item, agreed=outcome.agreed, value=value, escalated=escalated,
                 reason=reason, low_agreement=low_agreement, also=also)


class TooLateToUndo(Conflict):
    pass


@dataclass(frozen=True)
class Undone:
    item: Item
    value: Any
    skipped: bool
    lease_expires_at: Any


def undo_annotation(user, item_id: int) -> Undone:
    """Take back the caller's annotation of an item while its lease time lasts; lease it back.

    An item that the annotation settled goes back to the queue; one already decided by a
    reviewer (or gold) stays decided and the undo is refused.
    """
    item = get_item(user, item_id)
    check_role(user, permissions.LABEL, "label items")
    now = timezone.now()
    with transaction.atomic():
        item = Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
        annotation = Annotation.objects.filter(item=item, user=user).first()
        if annotation is None:
            raise TooLateToUndo("You have no annotation of this item to undo.")
        if (now - annotation.created_at).total_seconds() > item.project.lease_seconds:
            raise TooLateToUndo("Too late to undo: the annotation is older than the lease time.")
        if item.final_source == FinalSource.REVIEWER or item.review_decisions.exists():
            raise TooLateToUndo("Too late to undo: the item has been reviewed.")
        annotation.delete()
        if not annotation.skipped:
            item.annotation_count = max(item.annotation_count - 1, 0)
            item.save(update_fields=["annotation_count", "updated_at"])
        items.reopen_after_undo(item)
        expires = now + timedelta(seconds=item.project.lease_seconds)
        Assignment.objects.filter(item=item, user=user).update(
            state=LeaseState.LEASED, leased_at=now, expires_at=expires, finished_at=None)
        trail.record("annotation.undone", user=user, project=item.project_id, item=item,
                     annotation=annotation.pk, value=annotation.value, skipped=annotation.skipped)
    return Undone(item=item, value=annotation.value, skipped=annotation.skipped, lease_expires_at=expires)
