"""What people said about items: annotations and reviewer decisions."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from tasks.models import Item, Project


class Annotation(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    value = models.JSONField(null=True, blank=True)
    skipped = models.BooleanField(default=False)
    lead_time = models.FloatField(null=True, blank=True)  # seconds the annotator spent
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="annotation_unique")]
        indexes = [
            models.Index(fields=["project", "user", "created_at"], name="annotation_user"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} on {self.item_id}"


class ReviewDecision(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="review_decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.JSONField()
    note = models.TextField(blank=True, default="")
    reason = models.CharField(max_length=16, blank=True, default="")
    # Who the decision corrected: {"annotators": [user ids whose value differed], "agreed": [user ids],
    # "model": true/false, or null when the item had no prediction}.
    corrections = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "created_at"], name="review_project")]

    def __str__(self) -> str:
        return f"review {self.pk} on {self.item_id}"


class ReviewLease(models.Model):
    """An in-review item handed to one reviewer until `expires_at`, so two never decide it at once."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="review_lease")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["reviewer", "project", "expires_at"], name="review_lease_open")]

    def __str__(self) -> str:
        return f"review lease of {self.item_id} -> {self.reviewer_id}"
