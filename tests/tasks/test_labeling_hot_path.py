"""The labeling loop's round trips: `next` and a submission read and write the database a fixed, small number
of times, whatever the project's size (issue 20). Counted through the whole stack (token authentication,
middleware, the view), with the behaviours the lean paths must keep next to them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role
from annotations.models import Annotation, Feedback
from annotations.rework import reject
from annotations.services import Submission, submit_annotation
from tasks import queue
from tasks.models import Assignment, Item, LeaseState, Membership, Standing, StandingState
from tests.conftest import make_items, make_project, make_user

pytestmark = pytest.mark.django_db

# Statements sent (the test's transaction turns the request's BEGIN/COMMIT into a savepoint pair, not counted here).
# next: token+user, project+membership+standing, the caller's open lease or else the first open item (locked) in
# one statement, the lease (re-check and write in one), the rework feedback look-up.
NEXT_QUERIES = 5
# submit: token+user, the locked item+project+membership, the item's situation (with the annotation's key), then
# in one round trip the annotation, the assignment, the audit event, the count, the settled item's update with
# its audit event, and the webhooks' look-up (`common.rows.together`). (Before issue 20: 13 for next and 21 for
# a submission.)
SUBMIT_QUERIES = 4
# After the commit of a human final value, its listeners read nothing: the retraining trigger has the project the
# submission locked, and only an awaited item (a live decision's) makes the decisions look for its decision
# (before issue 20: the project and the project's decisions; then the item's pending decision).
AFTER_COMMIT_QUERIES = 0


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def labeling(admin, annotator):
    project = make_project(admin, [annotator], gold_rate=0.0)
    make_items(project, 40)
    Standing.objects.create(project=project, user=annotator, state=StandingState.ACTIVE)
    return project, token_client(annotator)


def _next(client, project, exclude=()):
    r = client.get(f"/api/projects/{project.pk}/next/", {"exclude": ",".join(map(str, exclude))})
    assert r.status_code == 200, r.content
    return r.json()


def _submit(client, item_id):
    r = client.post(f"/api/items/{item_id}/annotations/", {"value": {"label": "pos"}}, format="json")
    assert r.status_code == 201, r.content


def test_next_and_submit_take_a_fixed_number_of_statements(labeling):
    project, client = labeling
    # Warm: the first use of each statement on a connection prepares it (common.prepared).
    taken = [_next(client, project)["item"]["id"]]
    taken.append(_next(client, project, taken)["item"]["id"])
    _submit(client, taken[0])
    sent = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            taken.append(_next(client, project, taken)["item"]["id"])
        assert len(ctx.captured_queries) == NEXT_QUERIES + 2, [q["sql"][:120] for q in ctx.captured_queries]
        sent += ctx.captured_queries
    for item_id in taken[1:]:
        with CaptureQueriesContext(connection) as ctx:
            _submit(client, item_id)
        assert len(ctx.captured_queries) == SUBMIT_QUERIES + 2, [q["sql"][:120] for q in ctx.captured_queries]
        sent += ctx.captured_queries
    assert Annotation.objects.filter(project=project).count() == 5
    assert not [q for q in sent if q["sql"].startswith("PREPARE")]  # once per connection, not per request
    assert len([q for q in sent if q["sql"].startswith("EXECUTE")]) >= 3 * 4 + 4 * 3  # the loop's statements


def _settle(client, item_id, django_capture_on_commit_callbacks) -> list[str]:
    """The statements of a submission that settles the item, its after-commit listeners included."""
    with CaptureQueriesContext(connection) as ctx:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            r = client.post(f"/api/items/{item_id}/annotations/", {"value": {"label": "pos"}}, format="json")
    assert r.status_code == 201 and callbacks, r.content
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("awaited", [False, True], ids=["an item", "an awaited item"])
def test_the_listeners_of_a_settled_item_look_up_only_an_awaited_one(labeling, django_capture_on_commit_callbacks,
                                                                     awaited):
    project, client = labeling
    first = _next(client, project)["item"]["id"]
    item_id = _next(client, project, [first])["item"]["id"]
    Item.objects.filter(pk__in=[first, item_id]).update(awaited=awaited)
    with django_capture_on_commit_callbacks(execute=True):
        _submit(client, first)  # warm (see above)

    sent = _settle(client, item_id, django_capture_on_commit_callbacks)

    assert len(sent) == SUBMIT_QUERIES + 2 + AFTER_COMMIT_QUERIES + awaited, [q[:120] for q in sent]


def test_next_answers_the_item_as_it_is_stored(labeling):
    project, client = labeling
    body = _next(client, project)
    item = project.items.get(pk=body["item"]["id"])
    assert body["item"] == {"id": item.pk, "external_id": item.external_id, "data": item.data, "status": item.status}
    assert body["prediction"] is None and "feedback" not in body
    lease = Assignment.objects.get(item=item)
    assert lease.state == LeaseState.LEASED and body["lease_expires_at"].startswith(lease.expires_at.isoformat()[:19])
    assert _next(client, project)["item"] == body["item"]  # asking again resumes the same lease


def test_a_submission_answers_the_annotation_as_it_is_stored_with_the_key_taken_beforehand(labeling):
    # The key comes from the sequence before the INSERT, which goes with the other writes (rows.together).
    project, client = labeling
    item_id = _next(client, project)["item"]["id"]
    r = client.post(f"/api/items/{item_id}/annotations/", {"value": {"label": "pos"}, "lead_time": 2.5},
                    format="json")
    assert r.status_code == 201, r.content
    body, stored = r.json(), Annotation.objects.get(item_id=item_id)
    assert body["id"] == stored.pk and body["value"] == stored.value == {"label": "pos"}
    assert body["lead_time"] == stored.lead_time == 2.5 and body["created_at"].startswith(
        stored.created_at.isoformat()[:19])
    assert project.items.get(pk=item_id).annotation_count == 1


def test_an_expired_lease_of_the_caller_is_renewed_in_place(labeling, annotator):
    project, client = labeling
    first = _next(client, project)["item"]["id"]
    Assignment.objects.filter(item_id=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _next(client, project)["item"]["id"] == first
    lease = Assignment.objects.get(item_id=first, user=annotator)
    assert lease.state == LeaseState.LEASED and lease.expires_at > timezone.now()
    assert Assignment.objects.filter(item_id=first).count() == 1


def test_a_paused_annotator_is_still_stopped_with_the_standing_read_alongside_the_project(labeling, annotator):
    project, client = labeling
    Standing.objects.filter(project=project, user=annotator).update(state=StandingState.PAUSED, pause_reason="x")
    r = client.get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 403 and r.json()["state"] == StandingState.PAUSED


def test_an_outsider_gets_404_from_next_and_submit_and_locks_nothing(labeling, admin):
    project, _ = labeling
    outsider = token_client(make_user("otto", Role.ANNOTATOR))
    assert outsider.get(f"/api/projects/{project.pk}/next/").status_code == 404
    item = project.items.first()
    assert outsider.post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "pos"}},
                         format="json").status_code == 404
    assert not Annotation.objects.exists()


def test_a_rework_answer_marks_the_feedback_and_an_ordinary_one_leaves_it(labeling, admin, annotator):
    project, client = labeling
    project.overlap = 2
    project.save()
    project.items.update(needed=2)
    a = _next(client, project)["item"]["id"]
    assert client.post(f"/api/items/{a}/annotations/", {"value": {"label": "pos"}}, format="json").status_code == 201
    feedback = reject(admin, Annotation.objects.get(item_id=a).pk, "Look again", rework_by_same=True)
    body = _next(client, project)
    assert body["item"]["id"] == a and body["feedback"]["comment"] == "Look again"
    b = _next(client, project, [a])["item"]["id"]
    assert client.post(f"/api/items/{b}/annotations/", {"value": {"label": "neg"}}, format="json").status_code == 201
    feedback.refresh_from_db()
    assert feedback.reworked_at is None  # an answer to another item answers nothing
    assert client.post(f"/api/items/{a}/annotations/", {"value": {"label": "neg"}}, format="json").status_code == 201
    feedback.refresh_from_db()
    assert feedback.reworked_at is not None
    assert Feedback.objects.filter(reworked_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_lease_commits_without_waiting_for_the_disk_and_an_answer_waits(admin, annotator):
    # A lease lost to a crash of PostgreSQL costs a re-lease; an answer must never be lost.
    project = make_project(admin, [annotator], gold_rate=0.0)
    make_items(project, 3)
    with CaptureQueriesContext(connection) as ctx:
        lease = queue.next_item(project, annotator)
    assert lease is not None
    assert [q for q in ctx.captured_queries if q["sql"].startswith("SET LOCAL synchronous_commit TO OFF;")]
    with CaptureQueriesContext(connection) as ctx:
        submit_annotation(annotator, lease.item.pk, Submission(value={"label": "pos"}))
    assert not [q for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        queue.next_item(project, annotator)  # inside a caller's transaction: the caller's writes stay durable
    assert not [q for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="vacuum settings are PostgreSQL's")
def test_the_item_table_is_vacuumed_after_thousands_of_changes_not_a_fifth_of_it():
    # Settled items leave dead entries at the head of the queue's index until a vacuum (tasks/0017).
    with connection.cursor() as cur:
        cur.execute("SELECT reloptions FROM pg_class WHERE relname = 'tasks_item'")
        options = set(cur.fetchone()[0])
    assert {"autovacuum_vacuum_scale_factor=0.005", "autovacuum_vacuum_threshold=2000"} <= options


def _item_rows_written(item_id, send) -> int:
    """How many times `send()` writes the item's row (PostgreSQL's count of the transaction's updated rows)."""
    def updated() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_get_xact_tuples_updated('tasks_item'::regclass)")
            return cur.fetchone()[0]
    before = updated()
    send()
    return updated() - before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics count the writes")
@pytest.mark.parametrize("overlap", [1, 2])
def test_an_answer_writes_its_item_once_with_the_count_and_the_settlement_together(labeling, overlap):
    # Each write of the row is a new version of it with a new entry in each of its indexes (the changed
    # status makes it no HOT update): the answer that settles the item carries the count in the same UPDATE.
    project, client = labeling
    project.items.update(needed=overlap)
    item_id = _next(client, project)["item"]["id"]

    assert _item_rows_written(item_id, lambda: _submit(client, item_id)) == 1

    item = project.items.get(pk=item_id)
    assert item.annotation_count == 1
    assert item.status == ("done" if overlap == 1 else "new")  # settled by its one answer, or still waiting
    if overlap == 1:
        assert item.final_value == {"label": "pos"} and item.final_source == "consensus"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics count the writes")
def test_the_answer_that_disputes_an_item_counts_it_and_sends_it_to_review_in_one_write(labeling):
    project, client = labeling
    project.overlap = 2
    project.save()
    project.items.update(needed=2)
    anna = make_user("anna", Role.ANNOTATOR)
    Membership.objects.create(project=project, user=anna)
    Standing.objects.create(project=project, user=anna, state=StandingState.ACTIVE)
    second = token_client(anna)
    item_id = _next(client, project)["item"]["id"]
    _submit(client, item_id)
    assert _next(second, project)["item"]["id"] == item_id

    def disagree():
        r = second.post(f"/api/items/{item_id}/annotations/", {"value": {"label": "neg"}}, format="json")
        assert r.status_code == 201, r.content

    assert _item_rows_written(item_id, disagree) == 1
    item = project.items.get(pk=item_id)
    assert (item.annotation_count, item.status, item.review_reason) == (2, "in_review", "disagreement")
