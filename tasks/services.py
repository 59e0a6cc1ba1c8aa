"""Writes to projects and memberships (an item's life is written by `tasks.items`)."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from audit import trail
from tasks import signals
from tasks.models import Item, Membership, Project

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
            Item.objects.filter(project=project, needed=before["overlap"], annotation_count__lt=project.overlap,
                                ).labelable().update(needed=project.overlap)
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
