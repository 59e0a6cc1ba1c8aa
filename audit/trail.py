"""The append-only audit trail: one event per decision."""
from __future__ import annotations

from collections.abc import Iterable

from audit.models import AuditEvent
from common import rows


def _event(action: str, user, project, item, payload: dict) -> AuditEvent:
    return AuditEvent(action=action, user_id=getattr(user, "pk", user), project_id=getattr(project, "pk", project),
                      item_id=getattr(item, "pk", item), payload=payload)


def statement(action: str, *, user=None, project=None, item=None, **payload) -> tuple[str, list]:
    """`record` as a statement and its parameters, for a caller that sends it with others in one round trip
    (the submission path); the event is appended when the statement runs."""
    return rows.insert_statement(_event(action, user, project, item, payload))


def record(action: str, *, user=None, project=None, item=None, **payload) -> AuditEvent:
    """Append one event: `action` by `user` on `project`/`item`, with details in `payload`.

    A plain INSERT (`common.rows`) rather than `AuditEvent.objects.create`: every submission records two
    events, and the ORM's save machinery cost more than the statement."""
    return rows.insert(_event(action, user, project, item, payload))


def record_many(events: Iterable[AuditEvent], batch_size: int = 5000) -> None:
    """Append many events in bulk (routing and auto-acceptance of many items)."""
    AuditEvent.objects.bulk_create(events, batch_size=batch_size)
