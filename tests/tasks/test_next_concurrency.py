"""`next` under concurrency, against the real PostgreSQL server: never a double assignment."""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context

import pytest
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from accounts.models import Role
from annotations.models import Annotation
from tasks import queue
from tasks.models import Assignment, Project
from tests.conftest import client_for, make_items, make_project, make_user
from tests.http_labeler import label_until_empty

pytestmark = pytest.mark.django_db(transaction=True)


def _team(admin, n: int):
    return [make_user(f"worker{i}", Role.ANNOTATOR) for i in range(n)]


def _label_until_empty(user, project_id: int) -> list[int]:
    """Take items from `next` and label them until the queue is empty; returns the items taken."""
    client = client_for(user)
    taken = []
    try:
        while True:
            r = client.get(f"/api/projects/{project_id}/next/")
            if r.status_code == 204:
                return taken
            assert r.status_code == 200, r.content
            item_id = r.json()["item"]["id"]
            taken.append(item_id)
            s = client.post(f"/api/items/{item_id}/annotations/", {"value": {"label": "pos"}}, format="json")
            assert s.status_code == 201, s.content
    finally:
        connection.close()


def test_threads_never_get_the_same_item(admin):
    annotators = _team(admin, 8)
    project = make_project(admin, annotators)
    make_items(project, 120)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda u: _label_until_empty(u, project.pk), annotators))

    handed_out = [item for taken in results for item in taken]
    assert len(handed_out) == 120
    assert len(set(handed_out)) == 120, "an item was handed to two annotators"
    assert Annotation.objects.filter(project=project).count() == 120
    assert all(len(taken) > 0 for taken in results), "every annotator got work"


def test_overlap_two_gives_each_item_to_exactly_two_different_people(admin):
    annotators = _team(admin, 6)
    project = make_project(admin, annotators, overlap=2)
    make_items(project, 60)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda u: _label_until_empty(u, project.pk), annotators))

    for taken in results:
        assert len(taken) == len(set(taken)), "someone got an item twice"
    per_item = Counter(item for taken in results for item in taken)
    assert set(per_item.values()) == {2}
    assert len(per_item) == 60
    pairs = Annotation.objects.filter(project=project).values_list("item_id", "user_id")
    assert len(set(pairs)) == 120


def test_simultaneous_leases_never_exceed_what_an_item_still_needs(admin):
    """Everyone asks at once and nobody submits: each item is leased to at most `overlap` people."""
    annotators = _team(admin, 10)
    project = make_project(admin, annotators, overlap=2)
    make_items(project, 4)
    barrier = threading.Barrier(10)

    def grab(user):
        barrier.wait()
        try:
            lease = queue.next_item(Project.objects.get(pk=project.pk), user)
            return lease.item.pk if lease else None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        got = list(pool.map(grab, annotators))

    assert sorted(Counter(g for g in got if g is not None).values()) == [2, 2, 2, 2]
    assert got.count(None) == 2
    assert Assignment.objects.filter(project=project).count() == 8


def test_separate_processes_over_http_never_get_the_same_item(admin, live_server):
    annotators = _team(admin, 6)
    project = make_project(admin, annotators)
    make_items(project, 90)
    tokens = [Token.objects.create(user=u).key for u in annotators]

    with get_context("spawn").Pool(6) as pool:
        results = pool.map(label_until_empty, [(live_server.url, t, project.pk) for t in tokens])

    handed_out = [item for taken in results for item in taken]
    assert sorted(handed_out) == sorted(set(handed_out))
    assert len(handed_out) == 90
    assert Annotation.objects.filter(project=project).count() == 90


def test_a_resumed_lease_locks_no_other_item(admin, annotator):
    # The open lease and the first open item are one statement; the second part must not run (and lock the queue's
    # head for the rest of the transaction) when the caller already holds an item.
    project = make_project(admin, [annotator], gold_rate=0.0)
    make_items(project, 3)
    held = queue.next_item(project, annotator)
    assert held is not None and not held.resumed
    head = project.items.exclude(pk=held.item.pk).order_by("-priority", "id").first()
    seen = {}

    def other_session():
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT id FROM tasks_item WHERE id = %s FOR UPDATE NOWAIT", [head.pk])
                seen["locked by another"] = False
        except Exception:  # could not obtain lock
            seen["locked by another"] = True
        finally:
            connection.close()

    with transaction.atomic():
        again = queue.next_item(project, annotator)
        thread = threading.Thread(target=other_session)
        thread.start()
        thread.join()
    assert again is not None and again.resumed and again.item.pk == held.item.pk
    assert seen == {"locked by another": False}
