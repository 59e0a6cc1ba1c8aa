"""The members, users and export pages: who may open them, what they show, and leases of deactivated users."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from tasks.models import Assignment, Item, LeaseState
from tests.conftest import browser, make_items, make_user

pytestmark = pytest.mark.django_db


def test_members_page_lists_members_with_roles_and_offers_the_others(admin, project, outsider):
    page = browser(admin).get(f"/projects/{project.pk}/members/").content.decode()

    assert 'data-user="%d"' % project.membership_set.get(user__username="rita").user_id in page
    assert "ml_engineer" in page
    # The outsider is offered in the "Add a member" list; deactivated users are not.
    assert f'<option value="{outsider.pk}">otto' in page
    gone = make_user("gone", "annotator", is_active=False)
    assert f'<option value="{gone.pk}">' not in browser(admin).get(f"/projects/{project.pk}/members/").content.decode()


@pytest.mark.parametrize("who", ["annotator", "reviewer", "ml_engineer", "outsider"])
def test_members_and_users_pages_are_for_admins_only(request, who, project):
    client = browser(request.getfixturevalue(who))
    assert client.get(f"/projects/{project.pk}/members/").status_code == 403
    assert client.get("/users/").status_code == 403


def test_members_page_of_an_unknown_project_is_refused(admin):
    assert browser(admin).get("/projects/999/members/").status_code == 403


def test_users_page_lists_users_and_offers_deactivation_except_for_oneself(admin, project):
    page = browser(admin).get("/users/").content.decode()
    assert all(name in page for name in ("alice", "ann", "bob", "rita", "mel"))
    assert f'class="deactivate-user" data-user="{admin.pk}"' not in page
    assert 'class="deactivate-user"' in page and 'id="create-user"' in page


def test_export_page_offers_the_formats_of_the_task_type_and_submits_to_the_api(ml_engineer, project):
    page = browser(ml_engineer).get(f"/projects/{project.pk}/export/").content.decode()

    assert f'action="/api/projects/{project.pk}/export/"' in page and 'method="get"' in page
    for name in ("json", "jsonl", "csv", "label_studio"):
        assert f'value="{name}"' in page
    assert 'value="coco"' not in page  # boxes projects only
    assert 'name="status" value="done"' in page and 'name="since"' in page and 'name="until"' in page


@pytest.mark.parametrize("who", ["annotator", "reviewer", "outsider"])
def test_export_page_is_refused_to_those_who_may_not_export(request, who, project):
    assert browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/export/").status_code == 403


def test_home_links_members_for_admins_and_export_for_exporters(admin, ml_engineer, annotator, project):
    members, export = f"/projects/{project.pk}/members/", f"/projects/{project.pk}/export/"
    admin_home = browser(admin).get("/").content.decode()
    assert members in admin_home and export in admin_home and 'href="/users/"' in admin_home
    mel_home = browser(ml_engineer).get("/").content.decode()
    assert export in mel_home and members not in mel_home
    ann_home = browser(annotator).get("/").content.decode()
    assert export not in ann_home and members not in ann_home


def test_deactivating_a_user_ends_their_leases_and_keeps_the_rows(admin, annotator, project):
    item, other = make_items(project, 2)
    now = timezone.now()
    Assignment.objects.create(project=project, item=item, user=annotator, leased_at=now,
                              expires_at=now + timedelta(minutes=10))
    Assignment.objects.create(project=project, item=other, user=annotator, state=LeaseState.SUBMITTED,
                              leased_at=now, expires_at=now + timedelta(minutes=10), finished_at=now)

    account_services.set_active(annotator, False, by=admin)

    lease = Assignment.objects.get(item=item)
    assert lease.state == LeaseState.LEASED and lease.expires_at <= timezone.now()
    assert Assignment.objects.get(item=other).expires_at > timezone.now()  # finished rows untouched
    assert Item.objects.count() == 2
