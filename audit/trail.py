"""The append-only audit trail: one event per decision."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent

_PAYLOAD = AuditEvent._meta.get_field("payload")
_INSERT = (f"INSERT INTO {AuditEvent._meta.db_table} (project_id, item_id, user_id, action, payload, created_at) "
           "VALUES (%s, %s, %s, %s, %s, %s)")


def _event(action: str, user, project, item, payload: dict) -> tuple[AuditEvent, list]:
    event = AuditEvent(action=action, user_id=getattr(user, "pk", user), project_id=getattr(project, "pk", project),
                       item_id=getattr(item, "pk", item), payload=payload, created_at=timezone.now())
    params = [event.project_id, event.item_id, event.user_id, action, _PAYLOAD.get_db_prep_save(payload, connection),
              connection.ops.adapt_datetimefield_value(event.created_at)]
    return event, params


def statement(action: str, *, user=None, project=None, item=None, **payload) -> tuple[str, list]:
    """`record` as a statement and its parameters, for a caller that sends it with others in one round trip
    (the submission path); the event is appended when the statement runs."""
    return _INSERT, _event(action, user, project, item, payload)[1]


def record(action: str, *, user=None, project=None, item=None, **payload) -> AuditEvent:
    """Append one event: `action` by `user` on `project`/`item`, with details in `payload`.

    A plain INSERT rather than `AuditEvent.objects.create`: every submission records two events, and the
    ORM's save machinery cost more than the statement. The payload is encoded by the model's field, as
    `create` would."""
    event, params = _event(action, user, project, item, payload)
    with connection.cursor() as cur:
        if connection.features.can_return_columns_from_insert:
            cur.execute(_INSERT + " RETURNING id", params)
            event.pk = cur.fetchone()[0]
        else:
            cur.execute(_INSERT, params)
            event.pk = cur.lastrowid
    event._state.adding = False
    event._state.db = connection.alias
    return event


def record_many(events: Iterable[AuditEvent], batch_size: int = 5000) -> None:
    """Append many events in bulk (routing and auto-acceptance of many items)."""
    AuditEvent.objects.bulk_create(events, batch_size=batch_size)
