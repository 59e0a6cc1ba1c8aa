"""The project settings page: admins set routing thresholds with a live band preview."""
from __future__ import annotations

import pytest

from tests.conftest import browser

pytestmark = pytest.mark.django_db


def test_admin_changes_thresholds_on_the_settings_page(admin, project):
    client = browser(admin)
    assert client.get(f"/projects/{project.pk}/settings/").status_code == 200

    r = client.post(f"/projects/{project.pk}/settings/", {
        "auto_accept_threshold": "0.9", "escalation_threshold": "0.4", "audit_rate": "0.1", "overlap": "2",
        "escalated_overlap": "", "strategy": "margin", "retrain_every": "", "lease_seconds": "300",
        "instructions": "Be careful.",
    })

    assert r.status_code == 200 and b"Saved." in r.content
    project.refresh_from_db()
    assert (project.auto_accept_threshold, project.escalation_threshold, project.audit_rate, project.overlap,
            project.strategy, project.instructions) == (0.9, 0.4, 0.1, 2, "margin", "Be careful.")


def test_settings_page_refuses_an_escalation_threshold_above_auto_accept(admin, project):
    r = browser(admin).post(f"/projects/{project.pk}/settings/", {
        "auto_accept_threshold": "0.5", "escalation_threshold": "0.8", "audit_rate": "0.05"})

    assert r.status_code == 400
    assert b"Must not be above auto_accept_threshold" in r.content
    project.refresh_from_db()
    assert project.auto_accept_threshold is None


def test_settings_page_refuses_a_threshold_outside_zero_to_one(admin, project):
    r = browser(admin).post(f"/projects/{project.pk}/settings/", {"auto_accept_threshold": "1.5"})
    assert r.status_code == 400 and b"between 0 and 1" in r.content


@pytest.mark.parametrize("who", ["annotator", "ml_engineer", "reviewer"])
def test_settings_page_is_for_admins_only(request, who, project):
    assert browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/settings/").status_code == 403


def test_admin_sets_the_retraining_schedule_and_margin_on_the_settings_page(admin, project):
    from django_celery_beat.models import PeriodicTask

    client = browser(admin)
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert 'id="retrain_schedule"' in page and 'id="promotion_margin"' in page

    r = client.post(f"/projects/{project.pk}/settings/", {"retrain_schedule": "every 30 minutes",
                                                         "promotion_margin": "0.02", "retrain_every": "50"})

    assert r.status_code == 200 and b"Saved." in r.content
    project.refresh_from_db()
    assert (project.retrain_schedule, project.promotion_margin, project.retrain_every) == (
        "every 30 minutes", 0.02, 50)
    task = PeriodicTask.objects.get(name=f"retrain project {project.pk}")
    assert (task.interval.every, task.interval.period) == (30, "minutes")

    r = client.post(f"/projects/{project.pk}/settings/", {"retrain_schedule": "now and then"})
    assert r.status_code == 400 and b"cron line" in r.content
    assert b'value="now and then"' in r.content  # what was typed stays, to be corrected

    r = client.post(f"/projects/{project.pk}/settings/", {"retrain_schedule": ""})
    assert r.status_code == 200
    assert not PeriodicTask.objects.filter(name=f"retrain project {project.pk}").exists()
