"""Trained model versions and their predictions."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tasks.models import Item, Job, Project


class ModelVersionQuerySet(models.QuerySet):
    def active_for(self, project) -> ModelVersion | None:
        """The project's active version (the one that pre-labels), or None."""
        return self.filter(project=project, active=True).first()


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField()
    backend = models.CharField(max_length=40, default="")
    labels = models.JSONField(default=list)
    train_size = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    artifact = models.FileField(upload_to="models/", blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # What asked for this version: "manual" (button or API), "schedule", or "labels" (retrain_every).
    trigger = models.CharField(max_length=16, blank=True, default="")
    # The training set: its size per label, and the held-out labels the version was judged on.
    label_counts = models.JSONField(default=dict)
    holdout_size = models.PositiveIntegerField(default=0)
    # Human final labels the project had when the version was trained, and the newest one's time:
    # a retrain with the same figures would learn nothing new.
    labels_seen = models.PositiveIntegerField(default=0)
    last_final_at = models.DateTimeField(null=True, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True, default="")
    # Champion/challenger: the comparison with the version that was active, and what came of it.
    decision = models.JSONField(default=dict)
    # Set when the stored file turned out missing or damaged; such a version is never activated.
    corrupt = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique"),
            models.UniqueConstraint(fields=["project"], condition=Q(active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.version}"


class Prediction(models.Model):
    """One model version's prediction for one item (the item keeps a copy of the active one)."""

    # Two indexes for the two foreign keys, and no more: every index costs pre-labeling a million inserts.
    # prediction_unique (item, model_version) serves the item's; prediction_model the version's (its
    # cascade), on the version alone: a version's new predictions go in at the end of its entries, where one
    # that also held the confidence put each at a random place (a fifth of what storing a prediction costs).
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="predictions", db_index=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions",
                                      db_index=False)
    value = models.JSONField()
    confidence = models.FloatField()
    scores = models.JSONField(default=dict)  # per-class probabilities
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "model_version"], name="prediction_unique")]
        indexes = [models.Index(fields=["model_version"], name="prediction_model")]

    def __str__(self) -> str:
        return f"prediction {self.pk} on {self.item_id}"


class LabelIssue(models.Model):
    """A human final value the model version, trained without it, finds most likely wrong."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="label_issues")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    given = models.JSONField()
    suggested = models.JSONField()
    # The model's out-of-sample probability of the given value, and its confidence in its own.
    given_probability = models.FloatField()
    suggested_confidence = models.FloatField()

    class Meta:
        ordering = ["model_version", "rank"]
        constraints = [models.UniqueConstraint(fields=["model_version", "item"], name="label_issue_unique")]

    def __str__(self) -> str:
        return f"label issue {self.rank} of {self.model_version_id}"
