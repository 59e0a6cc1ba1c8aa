"""Webhooks: registering them, recording events for them (`emit`, `send_callback`) and sending them.

Delivery is at least once. `emit` writes one `Delivery` row per subscribed hook in the caller's
transaction (an outbox: a rolled-back transaction leaves none, a committed one cannot lose its events)
and publishes the Celery message after commit. Each run of `webhooks.deliver` makes one attempt under
the delivery's row lock; a failure schedules the next with exponential backoff and jitter, and the
periodic `sweep` re-sends whatever is overdue (a message lost with Redis or a dead worker, or a wait
too long to hand to the broker). Receivers see the same `Hitl-Delivery` id on every retry and re-send
and should process each id once.

Secrets: a hook signs with its own secret (`Webhook.secret`). A one-off `callback_url` signs with the
project's callback secret, `callback_secret(project_id)`: an HMAC of the project id under the
platform's SECRET_KEY (stable, stored nowhere, shown to admins at
`GET /api/projects/{id}/webhooks/callback-secret/`); without a project, the platform-wide one.
Rotating SECRET_KEY rotates them.

Settings (optional): HITL_WEBHOOK_TIMEOUT (seconds per request, 10), HITL_WEBHOOK_MAX_ATTEMPTS (8),
HITL_WEBHOOK_SWEEP_GRACE (seconds a due delivery waits for its own message before the sweep sends it, 60).
"""
from __future__ import annotations

import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from kombu.exceptions import OperationalError as BrokerUnavailable

from audit import trail
from common.errors import Invalid
from webhooks.models import Attempt, Delivery, DeliveryState, Event, Webhook, new_secret
from webhooks.signing import sign

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = tuple(Event.values)
DELIVER_TASK = "webhooks.deliver"
# Seconds to wait after the n-th failed attempt (the last repeats); each gets ±20 % jitter so that
# the retries of many deliveries to one receiver that was down do not arrive together.
BACKOFF = (10, 30, 120, 600, 3600, 3 * 3600, 6 * 3600)
# Waits up to this long go to the broker as a countdown; longer ones are left to the sweep (a message
# held for hours by a worker is one the broker may hand out twice, and one a restart loses).
LONGEST_COUNTDOWN = 300
USER_AGENT = "hitl-webhooks/1"


class WebhookError(Invalid, ValueError):
    """Bad input for a webhook: a 400 naming `field` in the API (`{"url": ["..."]}`)."""

    def __init__(self, field: str, message: str):
        super().__init__({field: [message]})
        self.field, self.message = field, message

    def __str__(self) -> str:
        return self.message


def timeout() -> float:
    return float(getattr(settings, "HITL_WEBHOOK_TIMEOUT", 10))


def max_attempts() -> int:
    return int(getattr(settings, "HITL_WEBHOOK_MAX_ATTEMPTS", 8))


def sweep_grace() -> float:
    return float(getattr(settings, "HITL_WEBHOOK_SWEEP_GRACE", 60))


# --- checks ----------------------------------------------------------------------------------------

def check_url(url: Any) -> str:
    """The URL if it is an absolute http(s) URL with a host; `WebhookError("url", ...)` otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url", "A URL is required.")
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise WebhookError("url", "Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError("url", "Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise WebhookError("url", "The URL names no host.")
    if len(url) > 2000:
        raise WebhookError("url", "The URL is longer than 2000 characters.")
    return url


def check_events(events: Any) -> list[str]:
    """The events, deduplicated in the platform's order; `WebhookError("events", ...)` if unknown or none."""
    if not isinstance(events, list | tuple) or not events:
        raise WebhookError("events", f"A non-empty list of events, from: {', '.join(EVENTS)}.")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise WebhookError("events", f"Unknown event {unknown[0]!r}; one of {', '.join(EVENTS)}.")
    return [e for e in EVENTS if e in events]


# --- hooks -----------------------------------------------------------------------------------------

def create_webhook(project, *, url: str, events: Iterable[str], active: bool = True, user=None) -> Webhook:
    """Register a hook with a fresh secret (returned once on the object; admins may ask for it again)."""
    hook = Webhook.objects.create(project=project, url=check_url(url), events=check_events(list(events)),
                                  active=active)
    trail.record("webhook.created", user=user, project=project, webhook=hook.pk, url=hook.url, events=hook.events)
    return hook


def update_webhook(hook: Webhook, *, user=None, url: str | None = None, events: Iterable[str] | None = None,
                   active: bool | None = None, rotate_secret: bool = False) -> Webhook:
    """Change a hook's URL, events or active flag, or give it a new secret."""
    changed = []
    if url is not None:
        hook.url = check_url(url)
        changed.append("url")
    if events is not None:
        hook.events = check_events(list(events))
        changed.append("events")
    if active is not None:
        hook.active = bool(active)
        changed.append("active")
    if rotate_secret:
        hook.secret = new_secret()
        changed.append("secret")
    if changed:
        hook.save(update_fields=changed)
        trail.record("webhook.changed", user=user, project=hook.project_id, webhook=hook.pk, fields=changed)
    return hook


def delete_webhook(hook: Webhook, *, user=None) -> None:
    """Remove a hook and its deliveries (pending ones are not sent)."""
    trail.record("webhook.deleted", user=user, project=hook.project_id, webhook=hook.pk, url=hook.url)
    hook.delete()


def callback_secret(project_id: int | None) -> str:
    """The secret that signs one-off callbacks of the project (platform-wide for None); see the module doc."""
    scope = "platform" if project_id is None else f"project:{project_id}"
    return "whcb_" + salted_hmac("hitl.webhooks.callback", scope, algorithm="sha256").hexdigest()


# --- events ----------------------------------------------------------------------------------------

def emit(project_id: int, event: str, payload: dict) -> list[Delivery]:
    """Record `event` for every active hook of the project subscribed to it; send after commit.

    Call inside the transaction that makes the event true: nothing is sent if it rolls back.
    `payload` must be JSON-serializable (datetimes, UUIDs and decimals are turned into strings).
    """
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}; one of {', '.join(EVENTS)}.")
    hooks = [h for h in Webhook.objects.filter(project_id=project_id, active=True) if event in h.events]
    if not hooks:
        return []
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create([
        Delivery(webhook=h, project_id=project_id, url=h.url, event=event, payload=_jsonable(payload),
                 next_attempt_at=now) for h in hooks])
    _enqueue_on_commit([d.pk for d in deliveries])
    return deliveries


def send_callback(url: str, event: str, payload: dict, *, project_id: int | None = None) -> Delivery:
    """Record one delivery of `event` to a caller's own `url`, signed with `callback_secret(project_id)`;
    sent after commit, retried like a hook's. Raises `WebhookError("url", ...)` for a URL that is not http(s)."""
    delivery = Delivery.objects.create(project_id=project_id, url=check_url(url), event=event,
                                       payload=_jsonable(payload), next_attempt_at=timezone.now())
    _enqueue_on_commit([delivery.pk])
    return delivery


def redeliver(delivery: Delivery) -> Delivery:
    """Send a delivery again now, with the same `Hitl-Delivery` id and a fresh round of attempts
    (the re-send button; also for one that succeeded, if its receiver lost what it got)."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        locked.state, locked.attempts, locked.next_attempt_at = DeliveryState.PENDING, 0, timezone.now()
        locked.save(update_fields=["state", "attempts", "next_attempt_at"])
        _enqueue_on_commit([locked.pk])
    return locked


def _jsonable(payload: dict) -> dict:
    # Through Django's encoder and back, so what is stored is what every attempt sends.
    import json

    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


# --- sending ---------------------------------------------------------------------------------------

def _enqueue_on_commit(ids: list[int], countdown: float | None = None) -> None:
    transaction.on_commit(lambda: [enqueue(i, countdown=countdown) for i in ids])


def enqueue(delivery_id: int, *, countdown: float | None = None) -> bool:
    """Publish one delivery's message; False (and a warning) if the broker is down: the sweep sends it."""
    try:
        current_app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown)
    except BrokerUnavailable as exc:
        log.warning("webhook delivery %s was not sent to the workers, the broker is unreachable (%s); "
                    "the sweep sends it later", delivery_id, exc)
        return False
    return True


def body_of(delivery: Delivery) -> bytes:
    """The JSON body of every attempt of the delivery."""
    return orjson.dumps({"id": str(delivery.delivery_id), "event": delivery.event,
                         "created_at": delivery.created_at.isoformat(), "project_id": delivery.project_id,
                         "data": delivery.payload})


def secret_of(delivery: Delivery) -> str:
    return delivery.webhook.secret if delivery.webhook_id else callback_secret(delivery.project_id)


@dataclass(frozen=True)
class Outcome:
    """How one HTTP request went."""

    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer, not a success: following it would resend the signed body elsewhere.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to `url` with a timeout; never raises for what the network or the receiver does."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": USER_AGENT,
                                              **headers})
    started = time.monotonic()
    status_code, error = None, ""
    try:
        with _opener.open(request, timeout=timeout()) as response:
            status_code = response.status
            response.read(1024)
    except urllib.error.HTTPError as exc:
        status_code = exc.code
        try:
            error = exc.read(500).decode("utf-8", "replace")
        except OSError:
            error = ""
        error = f"HTTP {exc.code}: {error}".strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, timed out, DNS, TLS, bad URL
        reason = getattr(exc, "reason", exc)
        error = f"{type(reason).__name__}: {reason}"
    duration = int((time.monotonic() - started) * 1000)
    return Outcome(status_code, error[:2000], duration)


def backoff(failed_attempts: int) -> float:
    """Seconds before the next attempt after `failed_attempts` failures, with ±20 % jitter."""
    base = BACKOFF[min(failed_attempts, len(BACKOFF)) - 1]
    return base * random.uniform(0.8, 1.2)


def attempt(delivery_id: int) -> Delivery | None:
    """Make one attempt at a delivery that is pending and due; returns it, or None if there was nothing to do.

    The row is locked for the attempt (`skip_locked`: a copy of the message that finds another worker
    sending it goes away), so two workers never send one delivery at once; one that already succeeded,
    failed for good, or is not due yet (a duplicate message, or a re-send beat it) is left alone.
    """
    with transaction.atomic():
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("webhook")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        now = timezone.now()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=2):
            return None
        body = body_of(delivery)
        outcome = post(delivery.url, body, {
            "Hitl-Event": delivery.event, "Hitl-Delivery": str(delivery.delivery_id),
            "Hitl-Attempt": str(delivery.attempts + 1), "Hitl-Signature": sign(secret_of(delivery), body)})
        Attempt.objects.create(delivery=delivery, at=now, status_code=outcome.status_code, error=outcome.error,
                               duration_ms=outcome.duration_ms)
        delivery.attempts += 1
        wait = None
        if outcome.ok:
            delivery.state, delivery.next_attempt_at = DeliveryState.SUCCEEDED, None
            delivery.delivered_at = timezone.now()
        elif delivery.attempts >= max_attempts():
            delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
            log.warning("webhook delivery %s to %s failed for good after %s attempts: %s", delivery.pk, delivery.url,
                        delivery.attempts, outcome.error or outcome.status_code)
        else:
            wait = backoff(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save(update_fields=["state", "attempts", "next_attempt_at", "delivered_at"])
        if wait is not None and wait <= LONGEST_COUNTDOWN:
            _enqueue_on_commit([delivery.pk], countdown=wait)
    return delivery


def due(now=None):
    """Pending deliveries whose time has passed by more than the grace their own message had."""
    now = now or timezone.now()
    return Delivery.objects.filter(state=DeliveryState.PENDING,
                                   next_attempt_at__lte=now - timedelta(seconds=sweep_grace()))


def sweep(now=None, limit: int = 500) -> int:
    """Send overdue deliveries to the workers again (run by beat every minute); how many were sent.

    A copy that meets a delivery another worker is sending, or already sent, changes nothing (`attempt`).
    """
    ids = list(due(now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for delivery_id in ids:
        enqueue(delivery_id)
    return len(ids)
