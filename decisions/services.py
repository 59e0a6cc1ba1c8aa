"""Live decisions: asked, decided by the rules, a person, or the deadline's fallback; then announced.

A decision never waits on a worker or the broker: asking does a few indexed queries (the project's
rules, the new item, the decision, two audit events) and answers. The announcement ("decision.made"
to the project's webhooks and the caller's `callback_url`) is stored with the decision and sent after
commit (`decisions.notify`, `webhooks.services`); one that failed is sent again by the sweep (`sweep`,
beat every few seconds), which also applies the fallback of decisions past their deadline.

Without a prediction from the caller, the project's active built-in model predicts inline
(`models_registry.serving.predict_one`: the version is loaded once per process, then scoring one item is
cheap); without one, the decision goes to people, and its item, `new`, is scored by the next pre-labeling.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from audit import trail
from common import rows
from common.errors import Invalid, NotFound
from decisions import notify, rules
from decisions.models import Decision, DecisionRules, DecisionStatus, Fallback, Path
from models_registry import serving
from tasks import items, routing
from tasks.access import is_member
from tasks.lifecycle import HUMAN_SOURCES, LABELABLE, IllegalTransition
from tasks.models import FinalSource, Item, Project
from tasks.values import ValueShapeError, validate_data, validate_value

log = logging.getLogger(__name__)

_DEFAULTS = DecisionRules()  # a project without a rules row


@dataclass(frozen=True)
class Request:
    data: dict
    prediction: Any
    confidence: float | None
    deadline_seconds: float
    callback_url: str
    metadata: dict


def rules_of(project: Project) -> DecisionRules:
    """The project's decision rules (the defaults if it has none)."""
    return DecisionRules.objects.filter(project=project).first() or _DEFAULTS


def _rules(project: Project, row: DecisionRules) -> rules.Rules:
    return rules.Rules(project.auto_accept_threshold, rules.check_class_thresholds(row.class_thresholds),
                       rules.check_field_rules(row.field_rules))


def _bad(field: str, message: str) -> Invalid:
    return Invalid({field: [message]})


def check_request(project: Project, body: Any, row: DecisionRules) -> Request:
    """The decision asked for, checked against the project's task type and labels; `Invalid` naming the field."""
    if not isinstance(body, dict):
        raise _bad("non_field_errors", "The body must be a JSON object.")
    try:
        if "data" not in body:
            raise ValueShapeError("data", "This field is required.")
        data = body["data"]
        validate_data(project.task_type, data)
        prediction = body.get("prediction")
        if prediction is not None:
            prediction = validate_value(project.task_type, project.labels, prediction, data, field="prediction")
    except ValueShapeError as exc:
        raise _bad(exc.field, exc.message) from None
    confidence = body.get("confidence")
    if confidence is not None:
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise _bad("confidence", "must be a number between 0 and 1")
        if prediction is None:
            raise _bad("confidence", "is given without a prediction")
        confidence = float(confidence)
    deadline = body.get("deadline_seconds", row.default_deadline_seconds)
    try:
        deadline = rules.check_deadline_seconds(deadline)
    except rules.RuleError as exc:
        raise _bad(exc.field, exc.message) from None
    callback_url = body.get("callback_url") or ""
    if callback_url:
        parts = urlsplit(callback_url) if isinstance(callback_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(callback_url) > 2000:
            raise _bad("callback_url", "must be an http:// or https:// URL")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _bad("metadata", "must be an object")
    return Request(data, prediction, confidence, deadline, callback_url, metadata)


def ask(project: Project, user, body: Any) -> Decision:
    """Record a decision and decide it at once if the project's rules accept its prediction; else it
    waits for people, its item first in the queue by deadline."""
    row = rules_of(project)
    req = check_request(project, body, row)
    model_version = None
    if req.prediction is None:  # the project's active model predicts, if it has one
        predicted = serving.predict_one(project, req.data)
        if predicted is not None:
            value, confidence, model_version = predicted
            req = replace(req, prediction=value, confidence=confidence)
    try:
        verdict = rules.judge(_rules(project, row), value=req.prediction, confidence=req.confidence,
                              metadata=req.metadata)
    except rules.RuleError as exc:  # the stored rules were written by hand and are broken
        raise Invalid({"detail": f"The project's decision rules are invalid ({exc}); ask an admin."}) from None
    t = routing.Thresholds.of(project)
    now = timezone.now()
    deadline = now + timedelta(seconds=req.deadline_seconds)
    if verdict.accept:
        # An audit share of the accepted still goes to a reviewer; the decision stands meanwhile.
        band = routing.Band.AUDIT if t.audit_rate > 0 and random.random() < t.audit_rate else routing.Band.AUTO_ACCEPT
        priority = 0.0
    else:
        low = req.confidence is not None and t.escalation is not None and req.confidence < t.escalation
        band = routing.Band.ESCALATE if low else routing.Band.NORMAL
        priority = rules.deadline_priority(deadline.timestamp())
    snapshot = None if req.prediction is None else {
        "model_version": model_version, "value": req.prediction, "confidence": req.confidence, "scores": {}}
    with transaction.atomic():
        item = items.create(project, req.data, prediction=snapshot, confidence=req.confidence, band=band,
                            priority=priority, needed=routing.needed(band, t), user=user, awaited=True,
                            reason=f"live decision: {verdict.reason}")
        decision = Decision.objects.create(
            project=project, item=item, prediction=req.prediction, confidence=req.confidence,
            metadata=req.metadata, callback_url=req.callback_url, deadline=deadline, created_by=user,
            reason=verdict.reason,
            **({"status": DecisionStatus.DECIDED, "value": req.prediction, "path": Path.AUTO_ACCEPTED,
                "decided_at": now} if verdict.accept else {}))
        if verdict.accept:
            _made(decision)  # asked and made at once: one event
        else:
            trail.record("decision.asked", user=user, project=project, item=item, decision=decision.pk,
                         deadline=deadline.isoformat(), reason=verdict.reason)
    return decision


def get_decision(user, decision_id) -> Decision:
    """The decision if the user may read its project; 404 otherwise."""
    try:
        decision = Decision.objects.select_related("decided_by", "item").get(pk=int(decision_id))
    except (Decision.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such decision.") from None
    if not is_member(user, decision.project_id):
        raise NotFound("No such decision.")
    return decision


def answer(d: Decision) -> dict:
    """What the caller sees of a decision."""
    out = {"id": d.pk, "project": d.project_id, "item": d.item_id, "status": d.status,
           "deadline": d.deadline.isoformat(), "created_at": d.created_at.isoformat()}
    if d.status == DecisionStatus.DECIDED:
        out.update(value=d.value, path=d.path, reason=d.reason,
                   decided_at=d.decided_at.isoformat() if d.decided_at else None,
                   decided_by=d.decided_by.username if d.decided_by_id and d.decided_by else None)
    return out


def _made(decision: Decision) -> None:
    """Audit a decided decision and store its announcement in the same transaction (sent after the commit)."""
    trail.record("decision.made", user=decision.decided_by_id, project=decision.project_id, item=decision.item_id,
                 decision=decision.pk, path=decision.path, value=decision.value, reason=decision.reason)
    notify.announce_in(decision)


def resolve_answered(project_id: int | None = None, *, item_id: int | None = None) -> int:
    """Decide the pending decisions whose item got a final value before the deadline; how many.

    People's values (`path: human`), or the model's when a later pre-labeling run accepted the item
    (`path: auto_accepted`). Called after the commit of a human final value
    (`tasks.signals.human_final_label`) and by the sweep, which catches the rest. A value given after
    the deadline does not count: the deadline's fallback decides (the late value stays on the item, for
    training and the record). With `item_id`, only that item's decision: most items have none, which
    one plain look-up tells (this runs after every human final value).
    """
    if item_id is not None and not rows.exists(Decision, item_id=item_id, status=DecisionStatus.PENDING):
        return 0
    pending = Decision.objects.filter(status=DecisionStatus.PENDING,
                                      item__final_source__in=[*HUMAN_SOURCES, FinalSource.MODEL])
    if project_id is not None:
        pending = pending.filter(project_id=project_id)
    if item_id is not None:
        pending = pending.filter(item_id=item_id)
    done = 0
    for d in pending.select_related("item"):
        item = d.item
        if item.final_at is None or item.final_at > d.deadline:
            continue
        with transaction.atomic():
            # Compare-and-swap: the sweep or another receiver may decide it meanwhile.
            if not Decision.objects.filter(pk=d.pk, status=DecisionStatus.PENDING).update(
                    status=DecisionStatus.DECIDED, value=item.final_value,
                    path=Path.HUMAN if item.final_source in HUMAN_SOURCES else Path.AUTO_ACCEPTED,
                    reason=f"final value by {item.final_source}", decided_at=item.final_at,
                    decided_by_id=item.final_by_id):
                continue
            Item.objects.filter(pk=item.pk).update(priority=0.0)
            d.refresh_from_db()
            _made(d)
            done += 1
    return done


def apply_deadlines(now: datetime | None = None, limit: int = 500) -> int:
    """Apply the project's fallback to pending decisions past their deadline; how many were decided."""
    now = now or timezone.now()
    due = list(Decision.objects.filter(status=DecisionStatus.PENDING, deadline__lte=now)
               .order_by("deadline").values_list("pk", flat=True)[:limit])
    done = 0
    for pk in due:
        with transaction.atomic():
            # Lock order: the decision, then its item (as `resolve_answered` never locks the item, and
            # an annotation locks only the item, there is no cycle).
            d = Decision.objects.select_for_update(skip_locked=True).filter(
                pk=pk, status=DecisionStatus.PENDING).first()
            if d is None:
                continue
            item = Item.objects.select_for_update().get(pk=d.item_id)
            if item.final_source in HUMAN_SOURCES and item.final_at and item.final_at <= d.deadline:
                continue  # people answered in time; `resolve_answered` decides it
            _fallback(d, item, rules_of(item.project).fallback, now)
            done += 1
    return done


def _fallback(d: Decision, item: Item, fallback: str, now: datetime) -> None:
    """Decide `d` by the deadline's fallback. Call holding the decision's and its item's row locks."""
    waiting = item.status in LABELABLE and not item.final_source
    if fallback == Fallback.ACCEPT_MODEL and d.prediction is None:
        fallback = Fallback.ESCALATE  # nothing to accept: a reviewer decides the item; the caller gets no value
    reason = f"deadline passed ({fallback})"
    try:
        if fallback == Fallback.ACCEPT_MODEL:
            d.value, d.path = d.prediction, Path.DEADLINE_ACCEPT_MODEL
            if waiting:
                items.accept_prediction(item, d.prediction, reason=f"live decision {d.pk}: {reason}")
        elif fallback == Fallback.REJECT:
            d.value, d.path = None, Path.DEADLINE_REJECT
        else:
            d.value, d.path = None, Path.DEADLINE_ESCALATE
            if waiting:
                items.escalate(item, reason=f"live decision {d.pk}: {reason}")
    except IllegalTransition:  # the item moved on meanwhile (review, a newer model): the decision is made anyway
        log.info("decision %s: item %s is %s; the fallback decides without it", d.pk, item.pk, item.status)
    Item.objects.filter(pk=item.pk).update(priority=0.0)  # no longer urgent: back among normal work
    d.status, d.reason, d.decided_at = DecisionStatus.DECIDED, reason, now
    d.save(update_fields=["status", "value", "path", "reason", "decided_at"])
    _made(d)


def retry_announcements(now: datetime | None = None, limit: int = 200) -> int:
    """Announce again decided decisions whose announcement did not go out (older than a few seconds)."""
    now = now or timezone.now()
    stale = Decision.objects.filter(status=DecisionStatus.DECIDED, notified_at__isnull=True,
                                    decided_at__lte=now - timedelta(seconds=5),
                                    decided_at__gte=now - timedelta(days=1)).order_by("decided_at")
    sent = 0
    for pk in stale.values_list("pk", flat=True)[:limit]:
        sent += notify.announce(pk)
    return sent


def sweep() -> dict[str, int]:
    """The periodic job: deadlines, answers the signal missed, announcements to retry."""
    answered = resolve_answered()  # first: an answer given in time beats the fallback
    deadlines = apply_deadlines()
    answered += resolve_answered()  # answered in time, found by the deadline pass
    return {"answered": answered, "deadlines": deadlines, "announced": retry_announcements()}


def set_rules(project: Project, body: Any, *, user) -> DecisionRules:
    """Replace the fields given of the project's decision rules; 400 naming the field, nothing saved on error."""
    if not isinstance(body, dict):
        raise Invalid("Send a JSON object.")
    current = DecisionRules.objects.filter(project=project).first() or DecisionRules(project=project)
    try:
        if "class_thresholds" in body:
            current.class_thresholds = rules.check_class_thresholds(body["class_thresholds"])
            unknown = [label for label in current.class_thresholds if label not in project.labels]
            if unknown:
                raise rules.RuleError(f"class_thresholds.{unknown[0]}", "is not one of the project's labels")
        if "field_rules" in body:
            rules.check_field_rules(body["field_rules"])
            current.field_rules = body["field_rules"]
        if "default_deadline_seconds" in body:
            current.default_deadline_seconds = int(rules.check_deadline_seconds(
                body["default_deadline_seconds"], "default_deadline_seconds"))
    except rules.RuleError as exc:
        raise Invalid({exc.field: [exc.message]}) from None
    if "fallback" in body:
        if body["fallback"] not in Fallback.values:
            raise Invalid({"fallback": [f"One of {', '.join(Fallback.values)}."]})
        current.fallback = body["fallback"]
    with transaction.atomic():
        current.save()
        trail.record("decision_rules.changed", user=user, project=project, **rules_body(current))
    return current


def rules_body(r: DecisionRules) -> dict:
    return {"class_thresholds": r.class_thresholds, "field_rules": r.field_rules, "fallback": r.fallback,
            "default_deadline_seconds": r.default_deadline_seconds}
