"""The audit trail's one table: append-only events of who did what to which project or item."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    pass


class AuditEvent(models.Model):
    """Append-only record of a decision: who did what to which item, when."""

    # Plain ids, no database constraints: the trail outlives what it describes and is never
    # rewritten, and this bottom layer knows nothing of the apps whose decisions it records.
    project_id = models.BigIntegerField(null=True)
    item_id = models.BigIntegerField(null=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tasks_auditevent"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project_id", "id"], name="audit_project"),
            models.Index(fields=["item_id", "id"], name="audit_item"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.created_at}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit events are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are never deleted")
