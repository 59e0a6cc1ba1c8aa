"""The review screen and the project dashboard as pages: who may open them, what they show."""
from __future__ import annotations

import pytest
from django.test import Client

from annotations.models import Annotation
from tasks.models import FinalSource, Item, ItemStatus, ReviewReason
from tests.conftest import browser, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project, annotator, annotator2):
    """Two items decided by consensus, one where the annotators disagree (in review)."""
    agreed, other, disputed = make_items(project, 3)
    for item, (a, b) in [(agreed, ("pos", "pos")), (other, ("neg", "neg")), (disputed, ("pos", "neg"))]:
        Annotation.objects.create(project=project, item=item, user=annotator, value={"label": a}, lead_time=2)
        Annotation.objects.create(project=project, item=item, user=annotator2, value={"label": b}, lead_time=3)
    Item.objects.filter(pk__in=[agreed.pk, other.pk]).update(status=ItemStatus.DONE, final_source=FinalSource.CONSENSUS)
    Item.objects.filter(pk=agreed.pk).update(final_value={"label": "pos"})
    Item.objects.filter(pk=other.pk).update(final_value={"label": "neg"})
    Item.objects.filter(pk=disputed.pk).update(status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT)
    return project


@pytest.mark.parametrize("who", ["reviewer", "admin"])
def test_reviewers_and_admins_open_the_review_screen(request, who, project):
    r = browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/review/")
    assert r.status_code == 200
    assert b'id="reviewer"' in r.content and b"js/review.js" in r.content
    assert b'"task_type": "classification"' in r.content


@pytest.mark.parametrize("who", ["annotator", "ml_engineer", "outsider"])
def test_others_get_403_on_the_review_screen(request, who, project):
    r = browser(request.getfixturevalue(who)).get(f"/projects/{project.pk}/review/")
    assert r.status_code == 403


def test_the_review_screen_needs_a_login(project):
    r = Client().get(f"/projects/{project.pk}/review/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_an_unknown_project_is_refused(reviewer):
    assert browser(reviewer).get("/projects/999999/review/").status_code == 403
    assert browser(reviewer).get("/projects/999999/dashboard/").status_code == 403


@pytest.mark.parametrize("who", ["admin", "annotator", "annotator2", "reviewer", "ml_engineer"])
def test_members_see_the_dashboard_with_its_charts(request, who, labelled):
    r = browser(request.getfixturevalue(who)).get(f"/projects/{labelled.pk}/dashboard/")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count("<svg") == 3
    assert 'id="chart-agreement"' in html and 'id="chart-confusion"' in html and 'id="chart-status"' in html
    assert "Krippendorff" in html and "Cohen" in html and "Dawid" in html
    assert 'id="queue-size">1<' in html
    # a bar per annotator (both agree with the two consensus values) and per status (zero counts included)
    assert html.count('class="bar"') == 2 + len(ItemStatus.values)
    assert html.count('data-value="1.0"') == 2


def test_outsiders_do_not_see_the_dashboard(outsider, labelled):
    assert browser(outsider).get(f"/projects/{labelled.pk}/dashboard/").status_code == 403


def test_the_dashboard_of_a_project_without_overlap_says_so(admin, project):
    r = browser(admin).get(f"/projects/{project.pk}/dashboard/")
    assert r.status_code == 200
    assert b"No overlap" in r.content and b"No annotations yet" in r.content


def test_user_names_are_escaped_in_the_charts(admin, project, annotator):
    annotator.username = "<b>x</b>"
    annotator.save()
    [item] = make_items(project, 1)
    Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"}, lead_time=2)
    html = browser(admin).get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_home_links_review_for_reviewers_and_dashboard_for_members(project, reviewer, annotator):
    html = browser(reviewer).get("/").content.decode()
    assert f"/projects/{project.pk}/review/" in html and f"/projects/{project.pk}/dashboard/" in html
    html = browser(annotator).get("/").content.decode()
    assert f"/projects/{project.pk}/review/" not in html and f"/projects/{project.pk}/dashboard/" in html
