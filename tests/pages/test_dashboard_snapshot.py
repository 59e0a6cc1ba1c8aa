"""The dashboard of a big project: a snapshot's figures, and a line saying how fresh they are."""
from __future__ import annotations

import pytest

from annotations import stats_snapshot
from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import browser, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def big(project, annotator, annotator2, settings):
    settings.HITL_STATS_SNAPSHOT_ANNOTATIONS = 10
    for i, item in enumerate(make_items(project, 8)):
        Item.objects.filter(pk=item.pk).update(final_value={"label": "pos"}, final_source="consensus")
        Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"})
        said = "pos" if i % 4 else "neg"
        Annotation.objects.create(project=project, item=item, user=annotator2, value={"label": said})
    return project


def test_before_its_first_snapshot_the_dashboard_says_it_is_being_computed(big, reviewer):
    html = browser(reviewer).get(f"/projects/{big.pk}/dashboard/").content.decode()
    assert 'id="freshness"' in html and "being computed" in html
    assert 'id="chart-status"' in html and "None annotations" not in html


def test_the_dashboard_of_a_big_project_shows_the_snapshot_and_its_age(big, reviewer):
    stats_snapshot.refresh(big)
    html = browser(reviewer).get(f"/projects/{big.pk}/dashboard/").content.decode()
    assert 'id="freshness"' in html and "16 annotations" in html
    assert "items by status, review queue and model are live" in html
    assert html.count("<svg") == 3 and "Krippendorff" in html and "Dawid" in html
    assert "16 annotations</span>" in html


def test_a_small_project_has_no_freshness_line(project, reviewer):
    html = browser(reviewer).get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'id="freshness"' not in html
