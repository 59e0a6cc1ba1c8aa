"""Annotations and leases keep no index that another of theirs already serves (issue 20: each index costs every
submission, every lease and every imported annotation an insert). An item's annotations and leases are found
through the (item, user) unique indexes, a project's annotations through `annotation_user`."""
from __future__ import annotations

import pytest
from django.db import connection

from annotations.models import Annotation
from tasks.models import Assignment
from tests.conftest import make_items, make_project
from tests.plans import plan_with_only

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")]


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.fixture
def answered(admin, annotator):
    project = make_project(admin, [annotator])
    items = make_items(project, 5)
    for item in items:
        Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"})
        Assignment.objects.create(project=project, item=item, user=annotator, state="submitted",
                                  leased_at=item.created_at, expires_at=item.created_at)
    return project, items[0]


def test_no_index_of_annotations_or_leases_starts_with_what_another_one_starts_with(answered):
    leading = {}
    for table in ("annotations_annotation", "tasks_assignment"):
        for name, definition in _indexes(table).items():
            if "WHERE" not in definition:  # a partial index serves only its rows
                first = definition.split("(", 1)[1].split(",")[0].split(")")[0].strip()
                leading.setdefault((table, first), []).append(name)
    assert {key: names for key, names in leading.items() if len(names) > 1} == {}
    assert "annotations_annotation_item_id" not in " ".join(_indexes("annotations_annotation"))
    assert "tasks_assignment_item_id" not in " ".join(_indexes("tasks_assignment"))


def test_an_items_annotations_and_leases_are_found_by_the_unique_indexes(answered):
    _, item = answered
    plan = plan_with_only("annotation_unique", Annotation.objects.filter(item=item))
    assert "annotation_unique" in plan and "Seq Scan" not in plan, plan
    plan = plan_with_only("assignment_unique", Assignment.objects.filter(item=item))
    assert "assignment_unique" in plan and "Seq Scan" not in plan, plan


def test_a_projects_annotations_are_found_by_the_annotators_index(answered):
    project, _ = answered
    plan = plan_with_only("annotation_user", Annotation.objects.filter(project=project))
    assert "annotation_user" in plan and "Seq Scan" not in plan, plan
