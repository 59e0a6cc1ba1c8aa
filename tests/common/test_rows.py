"""Plain-statement writes of one row (`common.rows`): the row the ORM's `save` would write."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

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


def _priority_update(item, priority):
    item.priority = priority
    return rows.update_statement(item, ("priority",))


def test_together_sends_waiting_writes_with_the_next_statement_which_sees_them(admin):
    project = make_project(admin)
    first, second = make_items(project, 2)
    rows.execute_all([_priority_update(first, 0.0)])  # the connection prepares the statement the first time
    with CaptureQueriesContext(connection) as ctx, rows.together():
        rows.execute_all([_priority_update(first, 0.25)])
        rows.execute_all([_priority_update(second, 0.5)])
        assert len(ctx.captured_queries) == 0  # nothing sent yet
        with connection.cursor() as cur:
            cur.execute("SELECT priority FROM tasks_item WHERE id IN (%s, %s) ORDER BY id", [first.pk, second.pk])
            assert [p for (p,) in cur.fetchall()] == [0.25, 0.5]  # the read sees both writes
    assert len(ctx.captured_queries) == 1  # one round trip for the two writes and the read


def _nothing_prepared() -> None:
    """The connection as a new one: no statement prepared on it yet (the tests' connection lives on)."""
    with connection.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    connection.prepared_statements.clear()


def test_writes_are_prepared_once_per_connection_then_executed(admin):
    # PostgreSQL neither parses nor plans a submission's writes again after the connection's first one.
    project = make_project(admin)
    first, second = make_items(project, 2)
    _nothing_prepared()
    with CaptureQueriesContext(connection) as ctx:
        rows.execute_all([_priority_update(first, 0.25)])
        rows.execute_all([_priority_update(second, 0.5)])
    sent = [q["sql"] for q in ctx.captured_queries]
    assert [s.split()[0] for s in sent] == ["PREPARE", "EXECUTE", "EXECUTE"]
    assert sent[0].startswith(f"PREPARE {sent[1].split()[1]} AS UPDATE")
    stored = dict(type(first).objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "priority"))
    assert stored == {first.pk: 0.25, second.pk: 0.5}


@pytest.mark.django_db(transaction=True)  # a real ROLLBACK, not one to a savepoint of the test's transaction
def test_a_prepared_write_outlives_a_rolled_back_transaction(admin):
    project = make_project(admin)
    item = make_items(project, 1)[0]
    _nothing_prepared()
    with pytest.raises(ValueError), transaction.atomic():
        rows.execute_all([_priority_update(item, 0.5)])  # prepared here, then rolled back
        raise ValueError("undo")
    rows.execute_all([_priority_update(item, 0.75)])
    assert type(item).objects.get(pk=item.pk).priority == 0.75


def test_together_sends_what_still_waits_when_the_block_ends(admin):
    project = make_project(admin)
    item = make_items(project, 1)[0]
    with rows.together():
        rows.execute_all([_priority_update(item, 0.75)])
    assert type(item).objects.get(pk=item.pk).priority == 0.75


def test_together_sends_the_writes_when_the_block_ends_with_an_error_of_the_application(admin):
    # As if they had been sent at once: the caller's transaction decides what becomes of them.
    project = make_project(admin)
    item = make_items(project, 1)[0]
    with pytest.raises(ValueError), rows.together():
        rows.execute_all([_priority_update(item, 0.75)])
        raise ValueError("refused")
    assert type(item).objects.get(pk=item.pk).priority == 0.75


def test_together_sends_the_writes_first_where_a_statement_cannot_share_their_round_trip(admin):
    project = make_project(admin)
    item = make_items(project, 1)[0]
    with rows.together():
        rows.execute_all([_priority_update(item, 0.5)])
        with connection.cursor() as cur:  # named parameters: not mixed with the writes' positional ones
            cur.execute("SELECT priority FROM tasks_item WHERE id = %(id)s", {"id": item.pk})
            assert cur.fetchone() == (0.5,)


def test_an_inner_together_block_joins_the_outer_one(admin):
    project = make_project(admin)
    item = make_items(project, 1)[0]
    with CaptureQueriesContext(connection) as ctx, rows.together():
        with rows.together():
            rows.execute_all([_priority_update(item, 0.5)])
        assert len(ctx.captured_queries) == 0  # still waiting for the outer block
    assert len(ctx.captured_queries) == 1 and type(item).objects.get(pk=item.pk).priority == 0.5


def test_together_sends_nothing_into_a_transaction_marked_for_rollback(admin):
    # An inner atomic block that failed leaves the transaction to be rolled back: the block's waiting writes go
    # nowhere and the original error is the one raised.
    project = make_project(admin)
    item = make_items(project, 1)[0]
    with pytest.raises(ValueError, match="inner"), transaction.atomic(), rows.together():
        rows.execute_all([_priority_update(item, 0.75)])
        with transaction.atomic(savepoint=False):
            raise ValueError("inner")
    assert type(item).objects.get(pk=item.pk).priority == 0.0
