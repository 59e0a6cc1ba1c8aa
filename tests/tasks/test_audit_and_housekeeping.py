"""The audit trail is append-only; beat's housekeeping drops dead leases and revives lost jobs."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.models import AppendOnlyError, AuditEvent
from tasks import jobs
from tasks.celery_tasks import release_expired_leases
from tasks.models import Assignment, Job, LeaseState
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def test_every_decision_is_recorded_with_who_what_and_when(as_user, admin, annotator, project):
    [item] = make_items(project, 1)
    as_user(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 1, "audit_rate": 0.1}, format="json")
    as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "neg"}}, format="json")

    events = list(AuditEvent.objects.order_by("id").values_list("action", "user_id", "item_id"))
    assert events == [
        ("project.updated", admin.pk, None),
        ("annotation.submitted", annotator.pk, item.pk),
        ("final.set", None, item.pk),
    ]
    final = AuditEvent.objects.get(action="final.set")
    assert final.payload["value"] == {"label": "neg"} and final.payload["source"] == "consensus"
    assert final.created_at is not None


def test_audit_events_cannot_be_changed_or_deleted(project):
    event = AuditEvent.objects.create(action="test", project_id=project.pk)

    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    # Not even behind the ORM's back: the database refuses too.
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test"


def test_expired_leases_are_released_but_finished_work_is_kept(as_user, annotator, annotator2, project):
    a, b = make_items(project, 2)
    as_user(annotator).get(f"/api/projects/{project.pk}/next/")
    as_user(annotator).post(f"/api/items/{a.pk}/annotations/", {"value": {"label": "pos"}}, format="json")
    as_user(annotator2).get(f"/api/projects/{project.pk}/next/")
    Assignment.objects.filter(user=annotator2).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert release_expired_leases() == 1

    assert list(Assignment.objects.values_list("item_id", "state")) == [(a.pk, LeaseState.SUBMITTED)]


def test_a_job_whose_worker_went_silent_is_sent_again(settings, project, admin, django_capture_on_commit_callbacks):
    settings.HITL_JOB_STALL_SECONDS = 60
    old = timezone.now() - timedelta(seconds=120)
    lost = Job.objects.create(kind="import", project=project, created_by=admin, state="running", heartbeat_at=old)
    alive = Job.objects.create(kind="import", project=project, created_by=admin, state="running",
                               heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks() as sent:
        assert jobs.requeue_stalled() == 1

    assert len(sent) == 1
    assert Job.objects.get(pk=lost.pk).state == "pending"
    assert Job.objects.get(pk=alive.pk).state == "running"
