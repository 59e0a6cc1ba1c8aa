"""Behaviour guards: too fast, one label over and over, session and daily caps pause an annotator."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations import guards
from annotations.models import Annotation, RetiredAnnotation
from audit.models import AuditEvent
from tasks.models import Standing, StandingState
from tests.conftest import client_for, make_items

pytestmark = pytest.mark.django_db


def label(user, item, value="pos"):
    return client_for(user).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": value}}, format="json")


def state_of(user) -> str:
    """The user's standing; one never paused may have no row yet (created on their first `next`)."""
    return Standing.objects.filter(user=user).values_list("state", flat=True).first() or StandingState.ACTIVE


def test_answering_faster_than_the_minimum_pauses_and_requeues(project, annotator):
    project.min_seconds_per_item = 2
    project.save()
    items = make_items(project, 12)
    for item in items[:10]:
        assert label(annotator, item).status_code == 201
    assert not Standing.objects.filter(user=annotator, state=StandingState.PAUSED).exists(), "ten gaps needed"

    label(annotator, items[10])  # the eleventh submission: ten gaps of milliseconds

    assert state_of(annotator) == StandingState.PAUSED
    r = client_for(annotator).get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 403 and "under the project's minimum of 2 s" in r.data["detail"]
    assert r.data["paused_until"] is None
    assert RetiredAnnotation.objects.filter(user=annotator, reason="requeued").count() == 11
    assert AuditEvent.objects.filter(action="annotator.paused", payload__kind="guard").exists()


def test_a_steady_pace_is_not_a_breach(project, annotator):
    project.min_seconds_per_item = 2
    project.save()
    for item in make_items(project, 11):
        label(annotator, item)
    # Spread the stored times 5 s apart, as a person working steadily would.
    start = timezone.now() - timedelta(minutes=5)
    for n, a in enumerate(Annotation.objects.filter(user=annotator).order_by("id")):
        Annotation.objects.filter(pk=a.pk).update(created_at=start + timedelta(seconds=5 * n))
    assert guards.find_breach(project, annotator, timezone.now()) is None


def test_one_label_over_and_over_pauses(project, annotator):
    project.streak_length, project.streak_max_share = 5, 0.8
    project.save()
    items = make_items(project, 6)
    for item in items[:4]:
        label(annotator, item, "pos")
    assert state_of(annotator) == StandingState.ACTIVE
    label(annotator, items[4], "pos")
    assert state_of(annotator) == StandingState.PAUSED
    assert "5 of the last 5 labels were 'pos'" in Standing.objects.get(user=annotator).pause_reason


def test_a_mix_of_labels_is_not_a_streak(project, annotator):
    project.streak_length, project.streak_max_share = 5, 0.8
    project.save()
    for n, item in enumerate(make_items(project, 10)):
        label(annotator, item, "neg" if n % 4 == 0 else "pos")
    assert state_of(annotator) == StandingState.ACTIVE


def test_the_session_cap_pauses_until_a_break_and_lifts_by_itself(project, annotator):
    project.session_cap = 3
    project.save()
    items = make_items(project, 5)
    for item in items[:3]:
        label(annotator, item)

    r = client_for(annotator).get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 403 and "session cap of 3" in r.data["detail"] and r.data["paused_until"]
    assert Annotation.objects.filter(user=annotator).count() == 3, "a cap keeps the labels"
    assert not RetiredAnnotation.objects.exists()

    Standing.objects.filter(user=annotator).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert client_for(annotator).get(f"/api/projects/{project.pk}/next/").status_code == 200
    assert state_of(annotator) == StandingState.ACTIVE
    assert AuditEvent.objects.filter(action="annotator.resumed").exists()


def test_the_daily_cap(project, annotator):
    project.daily_cap = 2
    project.save()
    for item in make_items(project, 3)[:2]:
        label(annotator, item)
    s = Standing.objects.get(user=annotator)
    assert s.state == StandingState.PAUSED and "daily cap of 2" in s.pause_reason
    assert s.paused_until.hour == 0 and s.paused_until > timezone.now()


def test_reviewers_are_not_watched(project, reviewer):
    project.streak_length, project.streak_max_share = 2, 0.5
    project.save()
    for item in make_items(project, 3):
        label(reviewer, item)
    assert not Standing.objects.filter(user=reviewer).exists()


def test_sessions_end_after_a_thirty_minute_break():
    now = timezone.now()
    times = [now, now - timedelta(minutes=1), now - timedelta(minutes=40), now - timedelta(minutes=41)]
    assert guards.session_length(times) == 2
