"""Pre-labeling in batches (`models_registry.prelabel`): the batch written in a second thread while the
next is scored, its errors, its progress, and the foreign keys it checks per statement."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from models_registry import prelabel as prelabel_module
from models_registry.models import Prediction
from models_registry.prelabel import prelabel
from tasks import items as item_writes
from tasks import jobs
from tasks.models import Item, ItemStatus, Job, JobState
from tests.models_registry.test_prelabel import _scores_in_data_backend, items_with, routed_project, stub_model

__all__ = ["_scores_in_data_backend", "routed_project"]  # fixtures, used by name

pytestmark = pytest.mark.django_db

PROBS = [[0.97, 0.03], [0.75, 0.25], [0.55, 0.45], [0.02, 0.98], [0.8, 0.2], [0.3, 0.7], [0.99, 0.01]] * 3


def test_small_batches_give_what_one_batch_gives(routed_project, monkeypatch):
    stub_model(routed_project)
    rows = items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)

    outcome = prelabel(routed_project, seed=0)

    assert outcome.scored == len(rows)
    assert outcome.bands == {"auto_accept": 9, "normal": 9, "escalate": 3}
    assert Prediction.objects.filter(item__project=routed_project).count() == len(rows)
    statuses = dict(Item.objects.filter(project=routed_project).values_list("id", "status"))
    assert [statuses[i.pk] for i in rows[:7]] == ["auto_accepted", "queued", "queued", "auto_accepted", "queued",
                                                  "queued", "auto_accepted"]


def test_progress_counts_the_written_batches(routed_project, monkeypatch, admin):
    stub_model(routed_project)
    items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 5)
    seen = []
    monkeypatch.setattr(jobs, "report_progress", lambda job, progress, total=None: seen.append((progress, total)))
    job = jobs.create_job("prelabel", project=routed_project, user=admin)

    prelabel(routed_project, job=job, seed=0)

    assert seen == [(0, 21), (5, 21), (10, 21), (15, 21), (20, 21), (21, 21)]


def _fail_write(monkeypatch, nth: int) -> None:
    """The `nth` batch's routing write fails as if the database went away."""
    real, calls = item_writes.write_scored, []

    def fail(batch, now):
        calls.append(len(batch))
        if len(calls) == nth:
            raise RuntimeError("the database went away")
        return real(batch, now)

    monkeypatch.setattr(item_writes, "write_scored", fail)


def test_a_batch_that_fails_to_write_fails_the_run_and_nothing_is_kept(routed_project, monkeypatch):
    stub_model(routed_project)
    items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    _fail_write(monkeypatch, 3)

    with pytest.raises(RuntimeError, match="went away"):
        prelabel(routed_project, seed=0)

    assert not Prediction.objects.filter(item__project=routed_project).exists()
    assert set(Item.objects.filter(project=routed_project).values_list("status", flat=True)) == {ItemStatus.NEW}


def test_a_batch_that_fails_to_score_waits_for_the_write_under_way(routed_project, monkeypatch):
    stub_model(routed_project)
    items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    real, calls = prelabel_module._score_batch, []

    def fail_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("a broken model")
        return real(*args)

    monkeypatch.setattr(prelabel_module, "_score_batch", fail_the_second)

    with pytest.raises(ValueError, match="broken model"):
        prelabel(routed_project, seed=0)

    assert not Prediction.objects.filter(item__project=routed_project).exists()
    assert Item.objects.filter(project=routed_project).count() == len(PROBS)  # the connection still works


def test_foreign_keys_are_deferred_again_after_the_run(routed_project):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's deferred constraints")
    stub_model(routed_project)
    [item] = items_with(routed_project, [0.6, 0.4])
    prelabel(routed_project, seed=0)
    mv = Prediction.objects.get(item=item).model_version_id

    # Deferred again: an orphan prediction goes in, and is refused only once the checks run.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO models_registry_prediction (item_id, model_version_id, value, confidence, scores, "
                    "created_at) VALUES (%s, %s, '{}', 0.5, '{}', now())", [item.pk + 10**9, mv])
        inserted = True
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert inserted


def _backend_pids_writing_batches(monkeypatch) -> list[int]:
    """The PostgreSQL backend that writes each batch, recorded as the run goes."""
    pids, real = [], prelabel_module._write_batch

    def spy(*args):
        pids.append(connection.connection.get_backend_pid())
        return real(*args)

    monkeypatch.setattr(prelabel_module, "_write_batch", spy)
    return pids


@pytest.mark.django_db(transaction=True)  # committed items: what the writing connections can see
def test_outside_a_transaction_two_more_connections_write_the_batches_by_turns(routed_project, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    stub_model(routed_project)
    rows = items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    pids = _backend_pids_writing_batches(monkeypatch)

    outcome = prelabel(routed_project, seed=0)

    assert len(pids) == 6 and pids[0::2] == [pids[0]] * 3 and pids[1::2] == [pids[1]] * 3
    assert len({*pids, connection.connection.get_backend_pid()}) == 3
    assert outcome.bands == {"auto_accept": 9, "normal": 9, "escalate": 3}
    assert Prediction.objects.filter(item__project=routed_project).count() == len(rows)
    statuses = dict(Item.objects.filter(project=routed_project).values_list("id", "status"))
    assert [statuses[i.pk] for i in rows[:7]] == ["auto_accepted", "queued", "queued", "auto_accepted", "queued",
                                                  "queued", "auto_accepted"]
    assert AuditEvent.objects.filter(project_id=routed_project.pk, action="final.set").count() == 9


@pytest.mark.django_db(transaction=True, databases="__all__")  # the job's progress has a connection of its own
def test_a_failed_run_rolls_back_what_every_writing_connection_wrote(routed_project, monkeypatch, admin):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    stub_model(routed_project)
    items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    pids = _backend_pids_writing_batches(monkeypatch)
    _fail_write(monkeypatch, 4)
    # A running job's row, not sent to the workers (committed here, a worker would run it as well).
    job = Job.objects.create(kind="prelabel", project=routed_project, state=JobState.RUNNING, created_by=admin)

    with pytest.raises(RuntimeError, match="went away"):
        prelabel(routed_project, job=job, seed=0)

    assert len(set(pids)) == 2
    assert not Prediction.objects.filter(item__project=routed_project).exists()
    assert set(Item.objects.filter(project=routed_project).values_list("status", flat=True)) == {ItemStatus.NEW}
    assert not AuditEvent.objects.filter(project_id=routed_project.pk, action="final.set").exists()
    job.refresh_from_db()
    assert job.state == JobState.RUNNING  # not finished: failed by `jobs.run`, or run again
