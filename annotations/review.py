"""Reviewers adjudicate: the review queue (`review/next`) and decisions (`review`).

Correctness under concurrency: an in-review item is handed to one reviewer at a time through a
`ReviewLease` row (one per item). Every write of a lease or a decision holds the item's row lock,
and the candidate is taken with `FOR UPDATE SKIP LOCKED`; once we hold the lock we look at the
item's lease again in a fresh statement, since a lease committed after our query's snapshot would
otherwise be invisible to us.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts import permissions
from annotations.consensus import agrees
from annotations.models import Annotation, ReviewDecision, ReviewLease
from audit import trail
from common.errors import Conflict, Invalid
from tasks import items, questions
from tasks.access import check_role, get_item, get_project
from tasks.models import Item, ItemStatus, Project
from tasks.values import ValueShapeError

# How often `next_for_review` looks again when every candidate it found was taken meanwhile.
_MAX_TRIES = 20


class NotInReview(Conflict):
    default_detail = "This item is not in review."


@dataclass(frozen=True)
class ReviewTask:
    item: Item
    annotations: list[Annotation]
    expires_at: datetime


def check_reviewer(user, project_id: int) -> Project:
    """The project, if the caller may review it: 404 for non-members, 403 for other roles."""
    project = get_project(user, project_id)
    check_role(user, permissions.REVIEW, "review items")
    return project


def next_for_review(user, project_id: int) -> ReviewTask | None:
    """Lease the caller the oldest in-review item nobody else holds (their own lease first), or None."""
    project = check_reviewer(user, project_id)
    now = timezone.now()
    expires = now + timedelta(seconds=project.lease_seconds)
    skip_locked = connection.features.has_select_for_update_skip_locked
    tried: list[int] = []
    with transaction.atomic():
        for _ in range(_MAX_TRIES):
            leases = ReviewLease.objects.filter(project=project, expires_at__gt=now)
            candidates = (Item.objects.filter(project=project).in_review()
                          .exclude(pk__in=leases.exclude(reviewer=user).values("item_id"))
                          .exclude(pk__in=tried).order_by("id").select_for_update(skip_locked=skip_locked))
            # The caller's own unexpired lease first (a reload resumes it), then the oldest item.
            item = (candidates.filter(pk__in=leases.filter(reviewer=user).values("item_id")).first()
                    or candidates.first())
            if item is None:
                return None
            # Fresh statements: a lease or decision committed since our snapshot is visible now.
            item.refresh_from_db()
            held = ReviewLease.objects.filter(item=item, expires_at__gt=now).exclude(reviewer=user).exists()
            if item.status != ItemStatus.IN_REVIEW or held:
                tried.append(item.pk)
                continue
            ReviewLease.objects.update_or_create(
                item=item,
                defaults={"project": project, "reviewer": user, "leased_at": now, "expires_at": expires},
            )
            annotations = list(Annotation.objects.filter(item=item).select_related("user").order_by("id"))
            return ReviewTask(item=item, annotations=annotations, expires_at=expires)
    return None


def check_review_value(item: Item, value: Any) -> Any:
    """The normalised reviewer value, or a 400 naming the field that does not fit the project."""
    if value is None:
        raise Invalid({"value": ["This field is required."]})
    project = item.project
    try:
        # Reviewers decide the main label; they may leave the rubric's questions unanswered.
        return questions.validate_value_with_answers(project.task_type, project.labels, project.questions, value,
                                                     item.data, require=False)
    except ValueShapeError as exc:
        raise Invalid({exc.field: [exc.message]}) from None


def corrections(item: Item, annotations: list[Annotation], value: Any) -> dict:
    """Who the reviewer's value corrects: each annotator whose value differs, and the model."""
    task_type, iou = item.project.task_type, item.project.consensus_iou
    done = [a for a in annotations if not a.skipped]
    prediction = item.prediction.get("value") if isinstance(item.prediction, dict) else None
    return {
        "annotators": [a.user_id for a in done if not agrees(task_type, a.value, value, iou)],
        "agreed": [a.user_id for a in done if agrees(task_type, a.value, value, iou)],
        "model": None if prediction is None else not agrees(task_type, prediction, value, iou),
    }


def do_review(user, item_id: int, value: Any, note: str = "") -> ReviewDecision:
    """Decide an in-review item: the reviewer's value becomes final (source "reviewer").

    Answers 404/403 for callers who may not review, 400 for a value that does not fit, and 409
    when the item is not (or no longer) in review.
    """
    item = get_item(user, item_id)
    check_role(user, permissions.REVIEW, "review items")
    value = check_review_value(item, value)
    with transaction.atomic():
        # The row lock serialises this with other decisions and with `review/next`.
        item = Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
        if item.status != ItemStatus.IN_REVIEW:
            raise NotInReview()
        reason = item.review_reason
        annotations = list(Annotation.objects.filter(item=item).order_by("id"))
        corrected = corrections(item, annotations, value)
        if item.project.questions and not value.get("answers"):
            # A decision without answers keeps the annotators' (`tasks.questions.aggregate`).
            rubric = questions.validate_questions(item.project.questions)
            value = {**value, "answers": questions.aggregate(rubric, [a.value for a in annotations if not a.skipped])}
        decision = ReviewDecision.objects.create(project_id=item.project_id, item=item, reviewer=user, value=value,
                                                 note=note, reason=reason, corrections=corrected)
        items.decide(item, value, user=user, reason=f"review ({reason})" if reason else "review")
        ReviewLease.objects.filter(item=item).delete()
        trail.record("review.decided", user=user, project=item.project_id, item=item, decision=decision.pk,
                     value=value, note=note, reason=reason, corrected_annotators=corrected["annotators"],
                     agreed_annotators=corrected["agreed"], model_corrected=corrected["model"])
    return decision
