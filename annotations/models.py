"""What people said about items: annotations and reviewer decisions."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from tasks.models import Item, Project


class Annotation(models.Model):
    # No index of their own for the project and the item: `annotation_user` starts with the project and
    # `annotation_unique` with the item (each index costs every submission and every imported annotation an insert).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations", db_index=False)
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


class RetiredAnnotation(models.Model):
    """An annotation that no longer counts, kept whole: a reviewer rejected it (rework), or its annotator
    was paused and it came after their last passed check (re-queued for others). Nothing is lost."""

    REJECTED = "rejected"
    REQUEUED = "requeued"

    original_id = models.BigIntegerField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="retired_annotations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.JSONField(null=True, blank=True)
    lead_time = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=10, choices=[(REJECTED, REJECTED), (REQUEUED, REQUEUED)])
    retired_at = models.DateTimeField(auto_now_add=True)
    retired_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "user", "retired_at"], name="retired_user")]

    def __str__(self) -> str:
        return f"retired annotation {self.original_id} on {self.item_id}"


class Feedback(models.Model):
    """A reviewer's rejection of an annotation, with a comment, in the annotator's inbox; the item goes
    back for rework to the same annotator (`rework_by`) or to anyone (null)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="feedback")
    annotation = models.OneToOneField(RetiredAnnotation, on_delete=models.CASCADE, related_name="feedback")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    comment = models.TextField()
    rework_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    reworked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["annotator", "read_at"], name="feedback_inbox")]

    def __str__(self) -> str:
        return f"feedback {self.pk} to {self.annotator_id}"


class StatsSnapshot(models.Model):
    """A big project's statistics as the last snapshot job computed them (`annotations.stats_snapshot`):
    over millions of annotations they take a job's minute, not a request's second."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField()
    seconds = models.FloatField(default=0.0)  # how long the computation took
    annotations = models.PositiveBigIntegerField(default=0)  # the project's annotations it covered (skips too)
    through_annotation = models.BigIntegerField(default=0)  # the newest annotation id when it started
    data = models.JSONField(default=dict)  # `stats.compute`'s answer

    def __str__(self) -> str:
        return f"stats of project {self.project_id} at {self.computed_at:%Y-%m-%d %H:%M}"
