"""Annotator quality under concurrency, against the real PostgreSQL server.

Found by `bench/load_test.py --quality` (50 annotators, random clickers paused mid-run): a submission that
pauses its annotator re-queues their labels, and it holds its item's row *and its project's row* (the
submission locks the item with `select_related("project")`). A `next` that holds one of the re-queued items
needs a key-share lock on that project row to commit (the deferred foreign keys of its lease). The re-queue
waited for the item, the `next` for the project: PostgreSQL found a deadlock, and one of the two answered 503.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role
from annotations.models import Annotation, RetiredAnnotation
from tasks.models import Assignment, Item, LeaseState, Standing, StandingState
from tests.conftest import client_for, make_items, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def make_gold(project, labels: list[str]) -> list[Item]:
    return Item.objects.bulk_create([
        Item(project=project, data={"text": f"gold {i}"}, gold={"label": label}, status="done",
             final_value={"label": label}, final_source="gold", needed=1)
        for i, label in enumerate(labels)])


def answer(user, item_id: int, label: str):
    return client_for(user).post(f"/api/items/{item_id}/annotations/", {"value": {"label": label}}, format="json")


def test_a_pause_does_not_deadlock_with_a_next_holding_one_of_the_requeued_items(project, annotator):
    project.overlap, project.accuracy_floor, project.gold_rate = 2, 0.5, 0.0
    project.save()
    regular = make_items(project, 3)
    gold = make_gold(project, ["pos"] * 4)
    # Three labels that stay open (overlap 2), then wrong gold answers: 0 of 3 has a 95% upper bound of 0.56,
    # 0 of 4 one of 0.49, under the floor. The fourth wrong answer pauses the annotator.
    for item in regular:
        assert answer(annotator, item.pk, "pos").status_code == 201
    for g in gold[:3]:
        assert answer(annotator, g.pk, "neg").status_code == 201
    assert Standing.objects.get(user=annotator).state == StandingState.ACTIVE

    other = make_user("other", Role.ANNOTATOR)
    held, go, errors = threading.Event(), threading.Event(), []

    def a_next_holding_the_middle_item() -> None:
        """What `next` does: lock the item (FOR UPDATE OF the item only), write the lease; commit when told."""
        try:
            with transaction.atomic():
                Item.objects.select_for_update(of=("self",)).get(pk=regular[1].pk)
                now = timezone.now()
                Assignment.objects.create(project=project, item=regular[1], user=other, leased_at=now,
                                          expires_at=now + timedelta(seconds=60))
                held.set()
                go.wait(10)
        except Exception as exc:  # a deadlock victim
            errors.append(exc)
        finally:
            connection.close()

    status: list[int] = []

    def the_pausing_answer() -> None:
        try:
            status.append(answer(annotator, gold[3].pk, "neg").status_code)
        finally:
            connection.close()

    lease = threading.Thread(target=a_next_holding_the_middle_item)
    lease.start()
    assert held.wait(10)
    submit = threading.Thread(target=the_pausing_answer)
    submit.start()
    time.sleep(0.5)  # the submission reaches the re-queue while the lease holds the item
    go.set()  # the lease commits: it needs a key-share lock on the project row
    lease.join(20)
    submit.join(20)

    assert not errors, errors
    assert status == [201], "the pausing answer was stored"
    assert Standing.objects.get(user=annotator).state == StandingState.PAUSED
    # Every label of the never-passing annotator was re-queued, the busy item's too (once the lease committed).
    assert not Annotation.objects.filter(user=annotator, item__in=regular).exists()
    assert sorted(RetiredAnnotation.objects.filter(user=annotator, reason="requeued").values_list(
        "item_id", flat=True)) == sorted(i.pk for i in regular)
    assert set(Item.objects.filter(pk__in=[i.pk for i in regular]).values_list("annotation_count", flat=True)) == {0}
    assert Assignment.objects.filter(item=regular[1], user=other, state=LeaseState.LEASED).exists()
