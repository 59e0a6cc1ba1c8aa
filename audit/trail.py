"""The append-only audit trail: one event per decision."""
from __future__ import annotations

from collections.abc import Iterable

from audit.models import AuditEvent


def record(action: str, *, user=None, project=None, item=None, **payload) -> AuditEvent:
    """Append one event: `action` by `user` on `project`/`item`, with details in `payload`."""
    return AuditEvent.objects.create(
        action=action,
        user_id=getattr(user, "pk", user),
        project_id=getattr(project, "pk", project),
        item_id=getattr(item, "pk", item),
        payload=payload,
    )


def record_many(events: Iterable[AuditEvent], batch_size: int = 5000) -> None:
    """Append many events in bulk (routing and auto-acceptance of many items)."""
    AuditEvent.objects.bulk_create(events, batch_size=batch_size)
