"""Turn the other apps' signals into webhook events (`decisions` calls `services.emit` itself).

Each receiver runs inside the transaction of the change it reports, so its deliveries commit or roll
back with it. A failure here is logged and never fails the change (a savepoint keeps the transaction
usable).
"""
from __future__ import annotations

import logging

from django.db import transaction

from common import rows
from webhooks import services
from webhooks.models import Event, Webhook

log = logging.getLogger(__name__)


def _emit(project_id: int | None, event: str, payload: dict) -> None:
    if project_id is None:
        return
    # Most projects have no hooks: a plain read first, and a savepoint (two more round trips on every
    # settled item) only when there is something to record.
    if not rows.exists(Webhook, project_id=project_id, active=True):
        return
    try:
        with transaction.atomic():
            services.emit(project_id, event, payload)
    except Exception:  # the label, model or job is saved; its webhook must not undo it
        log.exception("webhook event %s of project %s was not recorded", event, project_id)


def on_item_final(sender, project_id: int, item_id: int, value, source: str, at=None, external_id=None,
                  **kwargs) -> None:
    _emit(project_id, Event.ITEM_FINAL, {"item_id": item_id, "external_id": external_id, "value": value,
                                         "source": source, "final_at": at})


def on_model_activated(sender, project_id: int, model_version_id: int, version: int, reason: str = "",
                       previous: int | None = None, **kwargs) -> None:
    _emit(project_id, Event.MODEL_ACTIVATED, {"model_version_id": model_version_id, "version": version,
                                              "reason": reason, "previous_version": previous})


def on_job_finished(sender, job_id: int, project_id: int | None, kind: str, state: str, result=None, error: str = "",
                    **kwargs) -> None:
    _emit(project_id, Event.JOB_FINISHED, {"job_id": job_id, "kind": kind, "state": state, "result": result,
                                           "error": error})
