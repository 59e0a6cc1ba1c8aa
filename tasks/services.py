"""Writes to projects, memberships and items' final values."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import trail
from tasks import signals
from tasks.models import FinalSource, Item, ItemStatus, Membership, Project

# Project settings whose changes are recorded in the audit trail.
_AUDITED_SETTINGS = (
    "name", "task_type", "labels", "overlap", "auto_accept_threshold", "escalation_threshold",
    "escalated_overlap", "audit_rate", "strategy", "retrain_every", "retrain_schedule", "promotion_margin",
    "lease_seconds", "instructions", "consensus_iou", "consensus_method", "gold_rate", "model_backend",
    "model_endpoint", "model_timeout",
)


def create_project(*, user, **fields: Any) -> Project:
    """Create a project; its creator becomes a member."""
    with transaction.atomic():
        project = Project.objects.create(created_by=user, **fields)
        Membership.objects.create(project=project, user=user)
        signals.project_saved.send(Project, project=project, fields=set(fields))
        trail.record("project.created", user=user, project=project, settings=_settings(project))
    return project


def update_project(project: Project, *, user, **fields: Any) -> Project:
    """Change project settings; a new overlap applies to items still short of it."""
    before = _settings(project)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(project, name, value)
        project.save()
        signals.project_saved.send(Project, project=project, fields=set(fields))
        if "overlap" in fields and before["overlap"] != project.overlap:
            # Waiting items take the new overlap, unless they already have that many
            # annotations (they keep waiting for the count they were routed with), and
            # escalated items keep theirs.
            Item.objects.filter(project=project, status__in=[ItemStatus.NEW, ItemStatus.QUEUED],
                                needed=before["overlap"], annotation_count__lt=project.overlap,
                                ).update(needed=project.overlap)
        after = _settings(project)
        changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if changed:
            trail.record("project.updated", user=user, project=project, changed=changed)
    return project


def _settings(project: Project) -> dict:
    return {name: getattr(project, name) for name in _AUDITED_SETTINGS}


def add_member(project: Project, member, *, user) -> bool:
    """Make `member` a member of the project; False if they already were."""
    with transaction.atomic():
        _, created = Membership.objects.get_or_create(project=project, user=member)
        if created:
            trail.record("member.added", user=user, project=project, member=member.pk)
    return created


def remove_member(project: Project, member, *, user) -> bool:
    with transaction.atomic():
        deleted = Membership.objects.filter(project=project, user=member).delete()[0] > 0
        if deleted:
            trail.record("member.removed", user=user, project=project, member=member.pk)
    return deleted


def set_final(item: Item, value: Any, source: str, *, user=None, reason: str = "") -> None:
    """Make `value` the item's final label. Call while holding a lock on the item row."""
    item.final_value = value
    item.final_source = source
    item.final_by = user if source == FinalSource.REVIEWER else None
    item.final_at = timezone.now()
    item.status = ItemStatus.DONE
    item.review_reason = ""
    item.save(update_fields=["final_value", "final_source", "final_by", "final_at", "status", "review_reason",
                             "updated_at"])
    trail.record("final.set", user=user, project=item.project_id, item=item, value=value, source=source,
                 reason=reason)
    if source != FinalSource.MODEL:
        project_id = item.project_id
        transaction.on_commit(lambda: signals.human_final_label.send(sender=Item, project_id=project_id))


def send_to_review(item: Item, reason: str) -> None:
    """Put the item in front of reviewers. Call while holding a lock on the item row."""
    item.status = ItemStatus.IN_REVIEW
    item.review_reason = reason
    item.save(update_fields=["status", "review_reason", "updated_at"])
    trail.record("review.requested", project=item.project_id, item=item, reason=reason)
