"""Browser pages: home with progress, the labeling screen's access rules."""
from __future__ import annotations

import pytest
from django.test import Client

from annotations.models import Annotation
from tasks.models import ItemStatus
from tests.conftest import browser, make_items

pytestmark = pytest.mark.django_db


def test_home_lists_my_projects_with_progress(annotator, project, admin):
    items = make_items(project, 4)
    make_items(project, 2, status=ItemStatus.DONE)
    Annotation.objects.create(project=project, item=items[0], user=annotator, value={"label": "pos"})

    page = browser(annotator).get("/").content.decode()

    assert "Reviews" in page
    assert '<span class="done">2</span> / <span class="total">6</span>' in page
    assert '<span class="today">1</span> by me today' in page
    assert f'href="/projects/{project.pk}/label/"' in page


def test_home_needs_login():
    r = Client().get("/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_labeling_screen_opens_for_labelers(annotator, reviewer, admin, project):
    for user in (annotator, reviewer, admin):
        r = browser(user).get(f"/projects/{project.pk}/label/")
        assert r.status_code == 200
        assert b'id="hitl-config"' in r.content


@pytest.mark.parametrize("who", ["ml_engineer", "outsider"])
def test_labeling_screen_is_a_403_page_for_others(request, who, project):
    r = browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/label/")
    assert r.status_code == 403
    assert b"Not allowed" in r.content


def test_labeling_screen_of_a_missing_project_is_a_403_page(annotator):
    assert browser(annotator).get("/projects/999999/label/").status_code == 403

