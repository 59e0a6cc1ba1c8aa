"""Annotator quality acted upon: gold answers scored as they arrive, and what a pause takes back.

- `score_gold` runs in the submission's transaction for a gold item: the answer is right when it
  agrees with the gold value by the task type's consensus rule (labels equal, spans and boxes matched
  by IoU, rankings by their concordance); `tasks.standing` counts it (quiz or continuous record) and
  may pause the annotator.
- `retire` takes an annotation out of the count, kept whole as a `RetiredAnnotation`; its item waits
  again for another annotation if its annotators had settled or disputed it (`tasks.items`).
- `requeue_since_last_check` retires a paused annotator's labels since their last passed check (a right
  gold answer after which their accuracy was confidently at or above the floor; all their labels if they
  never passed one), item by item under the items' row locks, in id order.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from annotations.consensus import decide
from annotations.models import Annotation, RetiredAnnotation, ReviewLease
from audit import trail
from tasks import items, standing
from tasks.models import FinalSource, Item, Project


def agrees_with_gold(project: Project, value: Any, gold: Any) -> bool:
    """Whether an answer matches the gold value, by the task type's own agreement rule."""
    return decide(project.task_type, [value, gold], iou=project.consensus_iou).agreed


def score_gold(item: Item, user, value: Any) -> standing.GoldResult | None:
    """Count a gold answer for the annotator; a pause it causes re-queues their recent labels.

    Call in the submission's transaction, holding the item's lock."""
    project = item.project
    result = standing.record_gold(project, user, correct=agrees_with_gold(project, value, item.gold))
    if result is not None and result.paused:
        requeue_since_last_check(project, user, since=result.standing.last_passed_at)
    return result


def retire(annotation: Annotation, *, reason: str, by=None) -> RetiredAnnotation:
    """Take an annotation out of its item's count, keeping it whole; reopen the item if it had been settled
    by its annotators. Call holding the item's row lock."""
    retired = RetiredAnnotation.objects.create(
        original_id=annotation.pk, project_id=annotation.project_id, item_id=annotation.item_id,
        user_id=annotation.user_id, value=annotation.value, lead_time=annotation.lead_time,
        created_at=annotation.created_at, reason=reason, retired_by=by)
    annotation.delete()
    item = Item.objects.get(pk=annotation.item_id)
    if not annotation.skipped:
        Item.objects.filter(pk=item.pk).update(annotation_count=F("annotation_count") - 1)
        item.annotation_count -= 1
    if items.reopen_after_retired(item, reason=reason, user=by):
        ReviewLease.objects.filter(item=item).delete()  # it left review
    return retired


def requeue_since_last_check(project: Project, user, *, since=None, by=None) -> int:
    """Retire the user's labels on regular items since `since` (all when None) so others label them again;
    items a reviewer decided keep their decision. Returns how many were retired in the caller's transaction.

    The caller (a submission) holds its own item's row lock, and a `next` or a submission that holds one of
    these items may be waiting for a lock the caller holds (its item, or the rows its foreign keys share):
    waiting here for such an item could deadlock. So only the items nobody else holds are locked (SKIP
    LOCKED) and retired now; the others right after the caller commits, in a transaction of their own that
    holds nothing else while it waits."""
    mine = Annotation.objects.filter(project=project, user=user, item__gold__isnull=True).exclude(
        item__final_source=FinalSource.REVIEWER)
    if since is not None:
        mine = mine.filter(created_at__gt=since)
    item_ids = sorted(mine.values_list("item_id", flat=True))
    with transaction.atomic():
        # Row locks in id order, as every other writer takes them; rows other transactions hold are skipped.
        free = list(Item.objects.select_for_update(skip_locked=True).filter(pk__in=item_ids).order_by("id")
                    .values_list("id", flat=True))
        retired = _retire_on(project, user, free, by=by, since=since)
        busy = sorted(set(item_ids) - set(free))
        if busy:
            transaction.on_commit(lambda: _requeue_later(project, user, busy, by=by, since=since))
    return retired


def _retire_on(project: Project, user, item_ids: list[int], *, by, since, deferred: bool = False) -> int:
    """Retire the user's annotations on these items (whose row locks the caller holds)."""
    retired = 0
    taken_back = Annotation.objects.filter(project=project, user=user, item_id__in=item_ids).exclude(
        item__final_source=FinalSource.REVIEWER).order_by("item_id")  # read under the locks: as they are now
    for annotation in taken_back:
        retire(annotation, reason=RetiredAnnotation.REQUEUED, by=by)
        retired += 1
    if retired or not deferred:
        trail.record("annotations.requeued", user=by, project=project, annotator=user.pk, count=retired,
                     since=since.isoformat() if since else None, **({"deferred": True} if deferred else {}))
    return retired


def _requeue_later(project: Project, user, item_ids: list[int], *, by, since) -> int:
    """The items that were busy when the annotator was paused, after that transaction committed."""
    with transaction.atomic():
        list(Item.objects.select_for_update().filter(pk__in=item_ids).order_by("id").values_list("id", flat=True))
        return _retire_on(project, user, item_ids, by=by, since=since, deferred=True)


def quiz_feedback(item: Item, result: standing.GoldResult) -> dict[str, Any]:
    """What a qualifying annotator sees after a quiz item: right or not, the right answer, the guideline,
    and where they stand (`passed`: None while the quiz goes on)."""
    s = result.standing
    return {"correct": result.correct, "answer": item.gold, "instructions": item.project.instructions,
            "answered": s.quiz_answered, "right": s.quiz_correct, "of": item.project.qualification_items,
            "pass_mark": item.project.qualification_pass, "passed": result.qualified}
