"""A prediction has two indexes, one per foreign key (issue 20: every index costs pre-labeling a million
inserts): its item's and its version's, the latter on the version alone, so that a run's predictions go in
after the version's last entry rather than at a random place by confidence."""
from __future__ import annotations

import pytest
from django.db import connection

from models_registry.models import ModelVersion, Prediction
from tests.conftest import make_items, make_project
from tests.plans import plan_with_only

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")]


@pytest.fixture
def version(admin):
    project = make_project(admin)
    mv = ModelVersion.objects.create(project=project, version=1, backend="text", labels=project.labels)
    Prediction.objects.bulk_create(Prediction(item=item, model_version=mv, value={"label": "pos"}, confidence=0.7)
                                   for item in make_items(project, 5))
    return mv


def test_the_predictions_table_has_an_index_per_foreign_key_and_no_more(version):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'models_registry_prediction'")
        indexes = dict(cursor.fetchall())
    assert set(indexes) == {"models_registry_prediction_pkey", "prediction_unique", "prediction_model"}
    assert indexes["prediction_model"].endswith("(model_version_id)")
    assert indexes["prediction_unique"].endswith("(item_id, model_version_id)")


def test_a_versions_predictions_are_found_by_its_index(version):
    # What deleting the version (or its project) cascades to, and what relabeling reads.
    plan = plan_with_only("prediction_model", Prediction.objects.filter(model_version=version))
    assert "prediction_model" in plan and "Seq Scan" not in plan, plan


def test_an_items_predictions_are_found_by_the_unique_index(version):
    item_id = Prediction.objects.filter(model_version=version).values_list("item_id", flat=True).first()
    plan = plan_with_only("prediction_unique", Prediction.objects.filter(item_id=item_id))
    assert "prediction_unique" in plan and "Seq Scan" not in plan, plan
