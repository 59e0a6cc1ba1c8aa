from __future__ import annotations

from django.conf import settings
from django.db import models

from tasks.models import Item, Project


class Fallback(models.TextChoices):
    ACCEPT_MODEL = "accept_model", "accept the prediction"
    REJECT = "reject", "reject (no value)"
    ESCALATE = "escalate", "send to a reviewer"


class DecisionRules(models.Model):
    """A project's rules for live decisions (see `decisions.rules`); a project without a row has the defaults."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="decision_rules")
    class_thresholds = models.JSONField(default=dict, blank=True)
    field_rules = models.JSONField(default=list, blank=True)
    fallback = models.CharField(max_length=16, choices=Fallback.choices, default=Fallback.ACCEPT_MODEL)
    default_deadline_seconds = models.PositiveIntegerField(default=3600)

    def __str__(self) -> str:
        return f"decision rules of project {self.project_id}"


class DecisionStatus(models.TextChoices):
    PENDING = "pending"
    DECIDED = "decided"


class Path(models.TextChoices):
    """How a decision was made."""

    AUTO_ACCEPTED = "auto_accepted"
    HUMAN = "human"
    DEADLINE_ACCEPT_MODEL = "deadline_accept_model"
    DEADLINE_REJECT = "deadline_reject"
    DEADLINE_ESCALATE = "deadline_escalate"


class Decision(models.Model):
    """One question a production system asked; its item carries it through the queue, review and audit."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="decision")
    status = models.CharField(max_length=8, choices=DecisionStatus.choices, default=DecisionStatus.PENDING)
    prediction = models.JSONField(null=True, blank=True)  # the caller's (or the model's) value
    confidence = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    deadline = models.DateTimeField()
    value = models.JSONField(null=True, blank=True)
    path = models.CharField(max_length=24, choices=Path.choices, blank=True, default="")
    reason = models.CharField(max_length=300, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once "decision.made" went out (webhooks and the callback); the sweep retries those still unset.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep's reads: pending decisions by deadline, decided ones not yet announced.
            models.Index(fields=["deadline"], name="decision_pending_deadline",
                         condition=models.Q(status="pending")),
            models.Index(fields=["decided_at"], name="decision_unnotified",
                         condition=models.Q(status="decided", notified_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"decision {self.pk} ({self.status})"
