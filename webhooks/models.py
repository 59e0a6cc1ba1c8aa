"""Webhooks a project registers, the deliveries of its events to them, and each attempt at one."""
from __future__ import annotations

import secrets
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from tasks.models import Project


class Event(models.TextChoices):
    DECISION_MADE = "decision.made"
    ITEM_FINAL = "item.final"
    MODEL_ACTIVATED = "model.activated"
    JOB_FINISHED = "job.finished"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def new_secret() -> str:
    """A fresh signing secret (192 random bits, hex)."""
    return "whsec_" + secrets.token_hex(24)


class Webhook(models.Model):
    """A URL that receives the project's events it subscribes to, signed with its own secret."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=128, default=new_secret)
    events = models.JSONField(default=list)  # a list of `Event` values
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "active"], name="webhook_project_active")]

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.events)})"


class Delivery(models.Model):
    """One event for one URL: sent until the receiver answers 2xx or the attempts run out.

    `delivery_id` is sent as the `Hitl-Delivery` header and stays the same over retries and re-sends,
    so a receiver that records the ids it processed processes each event once.
    """

    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    # The project the event belongs to (who may see the delivery); null for a platform-wide callback.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # in the current round (a re-send starts a new one)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep's question: which pending deliveries are overdue?
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="delivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.url} ({self.state})"


class Attempt(models.Model):
    """One HTTP request of a delivery and how it went."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: no answer (timeout, refused)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.status_code or 'no answer'} at {self.at:%Y-%m-%d %H:%M:%S}"
