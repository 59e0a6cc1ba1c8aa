"""Announcing a made decision: "decision.made" to the project's webhooks and to the caller's callback URL.

`webhooks.services` stores the deliveries and sends them after commit, signed and retried; here they are
stored in one transaction with the decision's `notified_at`, so a decision is announced once. An
announcement that failed leaves `notified_at` empty and the sweep announces it again; the decision
itself stands either way.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from decisions.models import Decision
from webhooks import services

log = logging.getLogger(__name__)

EVENT = "decision.made"


def payload(d: Decision) -> dict:
    return {"id": d.pk, "project": d.project_id, "item": d.item_id, "status": d.status, "value": d.value,
            "path": d.path, "reason": d.reason, "metadata": d.metadata,
            "decided_at": d.decided_at.isoformat() if d.decided_at else None}


def announce_in(d: Decision) -> bool:
    """Store the announcement of a decided decision in the caller's transaction (its deliveries are sent after
    the commit) and mark it announced; False when that failed: the decision stands and the sweep retries."""
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's work whole
            body = payload(d)
            services.emit(d.project_id, EVENT, body)
            if d.callback_url:
                services.send_callback(d.callback_url, EVENT, body, project_id=d.project_id)
            Decision.objects.filter(pk=d.pk).update(notified_at=timezone.now())
        return True
    except Exception:
        log.warning("decision %s: announcing it failed; the sweep tries again", d.pk, exc_info=True)
        return False


def announce(decision_id: int) -> int:
    """The sweep's retry: announce a decided decision not yet announced; 1 if it went out, else 0. Never raises."""
    with transaction.atomic():
        d = (Decision.objects.select_for_update()
             .filter(pk=decision_id, status="decided", notified_at__isnull=True).first())
        return int(d is not None and announce_in(d))
