"""Pre-labeling's predictions reference their model version, held once per writing transaction, and their items,
which the batch's routing locks first: they go in without a foreign-key check each where the database role may
say so (`common.row_checks`), and an item gone meanwhile gets none."""
from __future__ import annotations

import pytest
from django.db import connection

from common import row_checks
from models_registry import prelabel as prelabel_module
from models_registry.models import Prediction
from models_registry.prelabel import prelabel
from tasks.models import Item
from tests.models_registry.test_prelabel import _scores_in_data_backend, items_with, routed_project, stub_model

__all__ = ["_scores_in_data_backend", "routed_project"]  # fixtures, used by name

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="the checks skipped are PostgreSQL's")]

PROBS = [[0.97, 0.03], [0.75, 0.25], [0.55, 0.45], [0.02, 0.98], [0.8, 0.2], [0.3, 0.7], [0.99, 0.01]] * 3


def _versions_looked_up() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'models_registry_modelversion'")
        return cur.fetchone()[0]


def _prelabel_counting_version_look_ups(project) -> int:
    """Look-ups of the model version while the run ran and its deferred checks then ran (as a commit would)."""
    before = _versions_looked_up()
    outcome = prelabel(project, seed=0)
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert outcome.scored == len(PROBS)
    return _versions_looked_up() - before


def test_predictions_go_in_without_a_check_each(routed_project, monkeypatch):
    stub_model(routed_project)
    items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    assert row_checks.may_skip()  # the test database's role is a superuser

    unchecked = _prelabel_counting_version_look_ups(routed_project)
    monkeypatch.setattr(row_checks, "may_skip", lambda conn=None: False)
    checked = _prelabel_counting_version_look_ups(routed_project)  # a re-run: the same predictions, replaced

    assert unchecked <= 3  # the run's own reads of its version, none per prediction
    assert checked >= len(PROBS)  # one per prediction where the role may not skip them
    assert Prediction.objects.filter(item__project=routed_project).count() == len(PROBS)


def test_an_item_deleted_before_its_batch_is_written_gets_no_prediction(routed_project, monkeypatch):
    stub_model(routed_project)
    rows = items_with(routed_project, *PROBS)
    monkeypatch.setattr(prelabel_module, "BATCH", 4)
    gone = rows[5].pk
    write = prelabel_module._write_batch

    def delete_then_write(mv, batch, now, unchecked):
        if gone in batch.ids:
            Item.objects.filter(pk=gone).delete()
        return write(mv, batch, now, unchecked)

    monkeypatch.setattr(prelabel_module, "_write_batch", delete_then_write)

    prelabel(routed_project, seed=0)

    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no orphan to refuse
        cur.execute("SELECT count(*) FROM models_registry_prediction WHERE item_id = %s", [gone])
        assert cur.fetchone()[0] == 0
    assert Prediction.objects.count() == len(PROBS) - 1
