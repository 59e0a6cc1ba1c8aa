"""Plain-statement writes of one row (`common.rows`): the row the ORM's `save` would write."""
from __future__ import annotations

from datetime import timedelta

import pytest

from annotations.models import Annotation
from common import rows
from tests.conftest import make_items, make_project
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


def test_insert_writes_every_field_as_create_would_and_marks_the_instance_saved(admin, annotator):
    project = make_project(admin, [annotator])
    item = make_items(project, 1)[0]
    annotation = rows.insert(Annotation(project=project, item=item, user=annotator, value={"label": ("pos",)},
                                        lead_time=2.5))
    assert annotation.pk and not annotation._state.adding and annotation.created_at is not None
    stored = Annotation.objects.get(pk=annotation.pk)
    assert (stored.value, stored.lead_time, stored.skipped) == ({"label": ["pos"]}, 2.5, False)
    assert stored.created_at == annotation.created_at


def test_update_writes_the_named_fields_and_the_auto_now_ones_only(admin):
    project = make_project(admin)
    item = make_items(project, 1)[0]
    before = item.updated_at
    item.priority, item.needed, item.data = 0.75, 3, {"text": "not written"}
    item.updated_at = before - timedelta(days=1)
    rows.update(item, ("priority", "needed"))
    stored = type(item).objects.get(pk=item.pk)
    assert (stored.priority, stored.needed, stored.data) == (0.75, 3, {"text": "text 0"})
    assert stored.updated_at > before


def test_exists_matches_plain_equality(admin):
    project = make_project(admin)
    assert not rows.exists(Webhook, project_id=project.pk, active=True)
    Webhook.objects.create(project=project, url="https://hooks.example.com/x", secret="s" * 32, active=False)
    assert not rows.exists(Webhook, project_id=project.pk, active=True)
    assert rows.exists(Webhook, project_id=project.pk, active=False)
