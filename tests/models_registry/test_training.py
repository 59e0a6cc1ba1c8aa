"""Training: built-in text and image models from a project's human final values, stored as versions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from dataio.importing import import_records, schema_of
from dataio.records import iter_array
from models_registry import artifacts
from models_registry.backends import BackendError
from models_registry.holdout import is_held_out
from models_registry.learners import LEARNERS
from models_registry.models import ModelVersion
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_project
from tests.models_registry import digits, load, reviews, synthetic_reviews

pytestmark = pytest.mark.django_db

DIGITS = [str(d) for d in range(10)]


def gold_ids(project) -> list[int]:
    return list(Item.objects.filter(project=project, final_source=FinalSource.GOLD).values_list("pk", flat=True))


@pytest.fixture
def review_project(admin):
    return make_project(admin, name="Movie reviews", labels=["fresh", "rotten"])


def test_a_text_model_on_real_reviews_is_stored_as_version_one_and_made_active(review_project, ml_engineer):
    load(review_project, reviews(100), gold=70)

    mv = train(review_project, user=ml_engineer)

    assert mv.version == 1
    assert mv.active
    assert mv.backend == "builtin_text"
    assert mv.labels_seen == 70
    assert mv.train_size + mv.holdout_size == 70
    assert mv.holdout_size == mv.metrics["test_size"] == sum(is_held_out(pk) for pk in gold_ids(review_project))
    assert 5 < mv.holdout_size < 25  # about a fifth
    assert mv.labels == ["fresh", "rotten"]
    assert mv.training_seconds > 0
    assert mv.created_by == ml_engineer
    assert {"accuracy", "macro_f1", "ece", "per_class"} <= set(mv.metrics)
    assert 0.0 <= mv.metrics["accuracy"] <= 1.0 and 0.0 <= mv.metrics["macro_f1"] <= 1.0
    assert 0.0 <= mv.metrics["ece"] <= 1.0
    assert set(mv.metrics["per_class"]) == {"fresh", "rotten"}
    assert set(mv.metrics["per_class"]["fresh"]) >= {"precision", "recall"}
    assert mv.metrics["evaluated_on"] == "holdout"
    assert (Path(settings.MEDIA_ROOT) / mv.artifact.name).is_file()
    assert ModelVersion.objects.get(project=review_project, active=True) == mv


def test_the_stored_artifact_loads_and_gives_calibrated_probabilities(review_project):
    load(review_project, synthetic_reviews(60), gold=40)
    mv = train(review_project)

    model = artifacts.load(mv.artifact.name)
    probs = model.predict_proba(["a wonderful, moving film", "a dull, lifeless mess"])
    assert probs.shape == (2, 2)
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert list(model.classes_) == ["fresh", "rotten"]
    assert probs[0, 0] > 0.5 > probs[1, 0]
    assert mv.metrics["accuracy"] == 1.0  # clearly worded reviews are learned


def test_a_second_model_gets_the_next_version_and_its_own_file(review_project):
    load(review_project, synthetic_reviews(40), gold=30)
    first = train(review_project)
    second = train(review_project, force=True)

    assert (first.version, second.version) == (1, 2)
    assert first.artifact.name != second.artifact.name
    assert (Path(settings.MEDIA_ROOT) / second.artifact.name).is_file()


def test_an_image_model_learns_real_digits(admin):
    project = make_project(admin, name="Digits", labels=DIGITS)
    load(project, digits(200), gold=200)

    mv = train(project)

    assert mv.backend == "builtin_image"
    assert mv.train_size + mv.holdout_size == 200
    assert mv.labels == DIGITS
    assert set(mv.metrics["per_class"]) == set(DIGITS)
    assert mv.metrics["accuracy"] > 0.8
    assert mv.metrics["macro_f1"] > 0.8


def test_only_human_final_values_are_training_data(review_project):
    load(review_project, synthetic_reviews(40), gold=20)
    unlabeled = list(Item.objects.filter(project=review_project, final_source="").order_by("id"))
    consensus, reviewed, by_model = unlabeled[:5], unlabeled[5:8], unlabeled[8:20]
    for items, source in ((consensus, FinalSource.CONSENSUS), (reviewed, FinalSource.REVIEWER),
                          (by_model, FinalSource.MODEL)):
        Item.objects.filter(pk__in=[i.pk for i in items]).update(
            final_value={"label": "fresh"}, final_source=source, status=ItemStatus.DONE)

    mv = train(review_project)

    assert mv.labels_seen == 20 + 5 + 3  # gold, consensus and reviewer; not the model's own acceptances
    assert mv.train_size + mv.holdout_size == 28


@pytest.mark.parametrize("gold", [0, 5, 9])
def test_too_few_labels_is_a_clear_error_and_no_new_version(review_project, gold):
    load(review_project, synthetic_reviews(30), gold=gold)

    with pytest.raises(BackendError) as error:
        train(review_project)

    if gold:
        assert str(error.value) == f"Training needs at least 10 labeled items; the project has {gold}."
    else:
        assert "no final labels" in str(error.value)
    assert not ModelVersion.objects.filter(project=review_project).exists()


@pytest.mark.parametrize("gold", [10, 12])
def test_ten_labels_are_enough_though_a_fifth_is_held_out(review_project, gold):
    load(review_project, synthetic_reviews(30), gold=gold)
    assert train(review_project).labels_seen == gold


def test_a_single_class_is_a_clear_error_and_no_new_version(review_project):
    load(review_project, synthetic_reviews(40), gold=20)
    active = train(review_project)
    # Every further label is "fresh" and the earlier ones are withdrawn: one class left.
    Item.objects.filter(project=review_project, final_source=FinalSource.GOLD, gold__label="rotten").update(
        final_value=None, final_source="", status=ItemStatus.QUEUED)

    with pytest.raises(BackendError, match="at least two classes; all 10 are 'fresh'"):
        train(review_project)

    assert list(ModelVersion.objects.filter(project=review_project).values_list("pk", "version", "active")) == [
        (active.pk, 1, True)]
    assert not (Path(settings.MEDIA_ROOT) / artifacts.relative_path(review_project.pk, 2)).exists()


def test_a_class_with_a_single_example_still_trains(review_project):
    fresh = [r for r in synthetic_reviews(60) if r["meta_label"] == "fresh"][:19]
    rotten = [r for r in synthetic_reviews(60) if r["meta_label"] == "rotten"][:1]
    load(review_project, fresh + rotten, gold=20)

    mv = train(review_project)  # the only "rotten" example must not be held out

    assert mv.label_counts == {"fresh": mv.train_size - 1, "rotten": 1}


def test_projects_without_a_built_in_model_cannot_train(admin, monkeypatch):
    monkeypatch.delitem(LEARNERS, "spans")  # every task type has a built-in model now; pretend spans had none
    spans = make_project(admin, name="Spans", task_type="spans", labels=["PER"])
    with pytest.raises(BackendError, match=r"^Built-in models exist for .*classification.* projects, not spans\.$"):
        train(spans)
    external = make_project(admin, name="External", model_backend="http", model_endpoint="http://127.0.0.1:9/")
    with pytest.raises(BackendError, match="external model"):
        train(external)


def test_a_multi_label_text_model_trains_and_predicts_each_label(admin):
    project = make_project(admin, name="Aspects", task_type="multi_label", labels=["acting", "plot", "music"])
    words = {"acting": "superb performances", "plot": "a twisting story", "music": "a haunting score"}
    combos = [["acting"], ["plot"], ["music"], ["acting", "plot"], ["plot", "music"], ["acting", "music"], []]
    records = []
    for i in range(42):
        chosen = combos[i % len(combos)]
        text = " and ".join(words[c] for c in chosen) or "nothing much to say"
        records.append({"data": {"text": f"{text}, review {i}"}, "gold": {"labels": chosen}})
    import_records(project, iter_array(records, schema_of(project)))

    mv = train(project)

    assert mv.backend == "builtin_text"
    assert mv.labels_seen == 42
    assert set(mv.metrics["per_class"]) == {"acting", "plot", "music"}
    assert mv.metrics["accuracy"] > 0.5
    probs = artifacts.load(mv.artifact.name).predict_proba(["superb performances and a haunting score"])
    assert probs.shape == (1, 3)
    assert probs[0, 0] > 0.5 and probs[0, 2] > 0.5 and probs[0, 1] < 0.5
    assert not np.allclose(probs.sum(axis=1), 1.0)  # independent yes/no probabilities
