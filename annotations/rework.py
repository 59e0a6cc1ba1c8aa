"""Feedback and rework: a reviewer rejects an annotation with a comment; it goes back for rework.

- `reject` retires the annotation (`annotations.quality.retire`: kept whole as a `RetiredAnnotation`, the
  item's count lowered, an item its annotators had settled or disputed reopened, its review lease
  dropped) and leaves a `Feedback` in the annotator's inbox. Sent back to the same annotator, the item
  is leased to them for `REWORK_LEASE` (their `next` serves it first, and the lease holds the freed
  place so nobody else takes it meanwhile); sent to anyone, the freed place is for whoever asks next —
  except the rejected annotator, whose finished assignment keeps the queue from serving it to them again.
- An item in review when one of its annotations is rejected reopens for one more annotation: the
  reviewer decides it (or consensus settles it) once the rework is in. A reviewer's decision, a gold
  value or the model's acceptance is final: annotations of such items cannot be rejected (409).
- `mark_reworked` is called by `annotations.services.submit_annotation` when an answer arrives.

Concurrency: every write holds the item's row lock (`select_for_update`), as the queue and submissions
do, so a rejection, a `next` and a submission of the same item run one after another, and the place the
retired annotation frees is either leased (same annotator) or open, never both.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.utils import timezone

from accounts import permissions
from annotations import quality
from annotations.models import Annotation, Feedback, RetiredAnnotation
from audit import trail
from common import prepared
from common.errors import Conflict, Invalid, NotFound
from tasks import signals
from tasks.access import check_role, is_member
from tasks.models import Assignment, FinalSource, Item, LeaseState, Project, Standing, StandingState

# How long a rejected item waits for its own annotator before its place opens to others.
REWORK_LEASE = timedelta(hours=24)
# Newest entries an inbox lists.
INBOX_LIMIT = 200


class NotRejectable(Conflict):
    default_detail = "This annotation cannot be rejected."


def get_annotation(user, annotation_id) -> Annotation:
    """The annotation if the user may read its project; 404 otherwise."""
    try:
        annotation = Annotation.objects.select_related("user").get(pk=int(annotation_id))
    except (Annotation.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such annotation.") from None
    if not is_member(user, annotation.project_id):
        raise NotFound("No such annotation.")
    return annotation


def check_rejecter(reviewer, annotation_id) -> Annotation:
    """The annotation, if the caller may reject it: 404 for non-members, 403 for roles that do not review."""
    annotation = get_annotation(reviewer, annotation_id)
    check_role(reviewer, permissions.REVIEW, "reject annotations")
    return annotation


def reject(reviewer, annotation_id, comment: str, *, rework_by_same: bool) -> Feedback:
    """Reject an annotation with a comment; its item goes back to the same annotator or to anyone.

    409 when the annotation is gone (undone, or rejected meanwhile), was a skip, or its item was decided
    by a reviewer, gold or the model; 400 when the same annotator may no longer label the project.
    """
    annotation = check_rejecter(reviewer, annotation_id)
    comment = (comment or "").strip()
    if not comment:
        raise Invalid({"comment": ["Say what is wrong: the annotator reads this in their inbox."]})
    with transaction.atomic():
        # The item's row lock: serialises this with `next`, submissions, undo and review decisions.
        item = Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=annotation.item_id)
        current = Annotation.objects.select_related("user").filter(pk=annotation.pk).first()
        _check_rejectable(item, current)
        assert current is not None
        annotator = current.user
        if rework_by_same and not _may_rework(annotator, item.project_id):
            raise Invalid({"rework_by": [f"{annotator.username} may no longer label this project; "
                                         "send it to anyone."]})
        was = item.status
        retired = quality.retire(current, reason=RetiredAnnotation.REJECTED, by=reviewer)
        now = timezone.now()
        if rework_by_same:
            _lease_for_rework(item, annotator, now)
        feedback = Feedback.objects.create(
            project_id=item.project_id, item=item, annotation=retired, annotator=annotator, reviewer=reviewer,
            comment=comment, rework_by=annotator if rework_by_same else None)
        trail.record("annotation.rejected", user=reviewer, project=item.project_id, item=item,
                     annotation=retired.original_id, retired=retired.pk, feedback=feedback.pk,
                     annotator=annotator.pk, value=retired.value, comment=comment,
                     rework_by="same" if rework_by_same else "anyone", status_before=was)
    return feedback


def _check_rejectable(item: Item, annotation: Annotation | None) -> None:
    if annotation is None:
        raise NotRejectable("This annotation no longer counts (undone or rejected meanwhile).")
    if annotation.skipped:
        raise NotRejectable("A skip has no value to reject.")
    if item.final_source == FinalSource.REVIEWER or item.review_decisions.exists():
        raise NotRejectable("A reviewer already decided this item; its annotations can no longer be rejected.")
    if item.final_source in (FinalSource.GOLD, FinalSource.MODEL) or item.gold is not None:
        raise NotRejectable("This item's final value is gold or the model's; its annotations cannot be reworked.")


STOPPED = (StandingState.PAUSED, StandingState.FAILED)


def _may_rework(user, project_id: int) -> bool:
    """Active, a labeler and a member, and not paused (or failed the quiz) in the project."""
    return (user.is_active and user.has_role(*permissions.LABEL) and is_member(user, project_id)
            and not Standing.objects.filter(project_id=project_id, user=user, state__in=STOPPED).exists())


def _lease_for_rework(item: Item, annotator, now: datetime) -> None:
    """Lease the item to its annotator for rework. Call holding the item's row lock, after `retire` freed
    the place this lease takes. Their finished assignment row (one per item and user) becomes the lease."""
    fields = {"state": LeaseState.LEASED, "leased_at": now, "expires_at": now + REWORK_LEASE, "finished_at": None}
    if not Assignment.objects.filter(item=item, user=annotator).update(**fields):
        Assignment.objects.create(project_id=item.project_id, item=item, user=annotator, **fields)


def mark_reworked(item: Item, user, now: datetime) -> int:
    """An answer of `user` for `item` arrived: the feedback waiting for it (theirs, or open to anyone) is
    reworked. Call in the submission's transaction."""
    return (Feedback.objects.filter(item=item, reworked_at__isnull=True)
            .filter(Q(rework_by=user) | Q(rework_by__isnull=True)).update(reworked_at=now))


# ------------------------------------------------------------------ the inbox


def inbox(user) -> QuerySet[Feedback]:
    """The caller's feedback, newest first, in projects they still belong to."""
    check_role(user, permissions.LABEL, "have an inbox")
    return (Feedback.objects.filter(annotator=user, project__in=Project.objects.visible_to(user))
            .select_related("project", "item", "reviewer", "annotation").order_by("-created_at", "-id"))


def unread_count(user) -> int:
    """How many of the caller's feedback entries they have not read (for the page header)."""
    return Feedback.objects.filter(annotator=user, read_at__isnull=True,
                                   project__in=Project.objects.visible_to(user)).count()


def mark_read(user, ids: list[int] | None = None) -> int:
    """Mark the caller's feedback read (those of `ids`, or all); returns how many changed."""
    check_role(user, permissions.LABEL, "have an inbox")
    unread = Feedback.objects.filter(annotator=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


# The newest feedback waiting for the caller's rework of an item. `next` asks on every call and nearly always
# finds none: one plain statement, the ORM only for the rare hit.
_WAITING_SQL = f"""
SELECT id FROM {Feedback._meta.db_table} WHERE item_id = %(item)s AND rework_by_id = %(user)s AND reworked_at IS NULL
ORDER BY id DESC LIMIT 1
"""


def rework_note(item: Item, user) -> dict[str, Any] | None:
    """The reviewer's feedback on the caller's rejected answer, for an item served to them for rework."""
    with connection.cursor() as cur:
        prepared.execute(cur, _WAITING_SQL, {"item": item.pk, "user": user.pk})
        row = cur.fetchone()
    if row is None:
        return None
    feedback = Feedback.objects.select_related("reviewer", "annotation").get(pk=row[0])
    return {"id": feedback.pk, "comment": feedback.comment, "reviewer": feedback.reviewer.username,
            "value": feedback.annotation.value, "created_at": feedback.created_at}


@receiver(signals.next_served)
def _feedback_with_next(sender, item: Item, user, **kwargs) -> dict[str, Any] | None:
    """`next` serving an item sent back to the caller carries the reviewer's feedback."""
    note = rework_note(item, user)
    return None if note is None else {"feedback": note}
