"""Which index holds which items (issue 20): the items past the queue (in review, done, accepted) are in
`item_past_queue`, the labelable ones (new, queued) only in `item_queue`, so an imported or a pre-labeled item
that still waits for people costs one index insert fewer. Each query by status keeps an index: shown with the
table's other indexes dropped (in the test's transaction) and no order asked for, where only the index whose
condition the filter implies can serve it (`tests.plans`)."""
from __future__ import annotations

import pytest
from django.db import connection

from tasks.models import Item, ItemStatus
from tests.conftest import make_items, make_project
from tests.plans import plan_with_only

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")]


@pytest.fixture
def project(admin):
    project = make_project(admin)
    for status in ItemStatus.values:
        make_items(project, 3, status=status)
    return project


@pytest.mark.parametrize("query", [
    lambda items: items.in_review(),  # the review queue
    lambda items: items.finished(),  # done and accepted (the home page's progress)
    lambda items: items.filter(status=ItemStatus.AUTO_ACCEPTED),  # a status filter of the data browser or the API
], ids=["in review", "finished", "auto-accepted"])
def test_the_items_past_the_queue_are_found_by_status_in_item_past_queue(project, query):
    plan = plan_with_only("item_past_queue", query(Item.objects.filter(project=project)))
    assert "item_past_queue" in plan and "Seq Scan" not in plan, plan


@pytest.mark.parametrize("status", [ItemStatus.NEW, ItemStatus.QUEUED])
def test_labelable_items_are_found_by_status_in_item_queue_only(project, status):
    items = Item.objects.filter(project=project, status=status)
    assert "Seq Scan" in plan_with_only("item_past_queue", items)  # not there: the index cannot serve them
    plan = plan_with_only("item_queue", items)
    assert "item_queue" in plan and "Seq Scan" not in plan, plan


def test_the_labelable_statuses_are_left_out_of_item_past_queue():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'item_past_queue'")
        (definition,) = cursor.fetchone()
    assert "(project_id, status, id) WHERE (NOT ((status)::text = ANY ((ARRAY['new'" in definition, definition
    assert "'queued'" in definition


def test_external_ids_compare_byte_by_byte():
    """Matched for equality only, external ids need no language's order: their column (and with it the unique
    index every imported item enters) uses collation "C", whatever the database's own (migration 0022)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT collation_name FROM information_schema.columns "
                       "WHERE table_name = 'tasks_item' AND column_name = 'external_id'")
        assert cursor.fetchone() == ("C",)
        cursor.execute("SELECT c.collname FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid "
                       "JOIN pg_collation c ON c.oid = i.indcollation[1] WHERE x.relname = 'item_external_id_unique'")
        assert cursor.fetchone() == ("C",)


def test_the_lookup_of_known_external_ids_uses_their_unique_index(admin):
    """A look-up of the ids a project has (parameters of the database's own collation against the column's "C",
    as in the import's check) is served by `item_external_id_unique`."""
    project = make_project(admin)
    make_items(project, 3)
    known = Item.objects.filter(project=project, external_id__in=["a", "b"])
    plan = plan_with_only("item_external_id_unique", known)
    assert "item_external_id_unique" in plan and "Seq Scan" not in plan, plan
