"""Spans: the built-in CRF sequence model, its seqeval metrics, training, pre-labeling and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from dataio.importing import import_records, schema_of
from dataio.records import iter_array
from models_registry import artifacts, prelabel
from models_registry.backends import BACKENDS, BackendError
from models_registry.backends.spans import SpansBackend, bio_tags, spans_of, tokenize
from models_registry.holdout import is_held_out
from models_registry.learners import learner_for
from models_registry.learners.spans import evaluate
from models_registry.models import LabelIssue, ModelVersion, Prediction
from models_registry.training import train
from tasks.models import FinalSource, Item, ItemStatus
from tasks.values import validate_value
from tests.conftest import make_project
from tests.models_registry import ner

LABELS = ner.LABELS


def exact_match_f1(true: list[list[dict]], predicted: list[list[dict]]) -> tuple[float, float, float]:
    """Precision, recall and F1 counted by hand: a predicted span is right iff (start, end, label) is a true one."""
    key = lambda s: (s["start"], s["end"], s["label"])  # noqa: E731
    hits = sum(len({*map(key, t)} & {*map(key, p)}) for t, p in zip(true, predicted))
    n_true, n_pred = sum(map(len, true)), sum(map(len, predicted))
    precision, recall = hits / n_pred, hits / n_true
    return precision, recall, 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def fitted():
    """A CRF fitted on 200 sentences; 200 later ones, with names it never saw, to judge it on."""
    sentences = ner.sentences(400, seed=1)
    train_part, test_part = sentences[:200], sentences[200:]
    backend = SpansBackend("spans", LABELS)
    model = backend.fit([{"text": t} for t, _ in train_part], [s for _, s in train_part])
    predicted = backend.predict_values(model, [{"text": t} for t, _ in test_part])
    return backend, model, test_part, predicted


# --- the sequence model, no database ---------------------------------------------------------------


def test_tokens_keep_their_character_offsets():
    text = "Tim Berners-Lee met 😀 the BBC."
    tokens = tokenize(text)
    assert [text[a:b] for a, b in tokens] == ["Tim", "Berners", "-", "Lee", "met", "😀", "the", "BBC", "."]
    tags = bio_tags(tokens, [{"start": 0, "end": 15, "label": "PER"}, {"start": 26, "end": 29, "label": "ORG"}])
    assert tags == ["B-PER", "I-PER", "I-PER", "I-PER", "O", "O", "O", "B-ORG", "O"]
    assert spans_of(tokens, tags) == [(0, 4, "PER"), (7, 8, "ORG")]


def test_a_span_cutting_into_a_word_takes_the_whole_word():
    tokens = tokenize("the Obamas arrived")
    assert bio_tags(tokens, [{"start": 4, "end": 9, "label": "PER"}]) == ["O", "B-PER", "O"]


def test_a_crf_learns_spans_of_names_it_never_saw(fitted):
    _, _, test_part, predicted = fitted
    true = [s for _, s in test_part]

    metrics = evaluate(predicted, true)

    assert metrics["f1"] > 0.75, metrics
    # seqeval's exact-match micro scores are the hand-counted ones.
    precision, recall, f1 = exact_match_f1(true, [v["spans"] for v in predicted.values])
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == pytest.approx((precision, recall, f1),
                                                                                       abs=1e-4)
    assert set(metrics["per_class"]) == set(LABELS)
    for label, row in metrics["per_class"].items():
        assert set(row) == {"precision", "recall", "f1", "support"}
        assert row["support"] == sum(s["label"] == label for spans in true for s in spans)
    assert metrics["test_size"] == 200
    assert 0 < metrics["exact_match"] <= 1 and 0 <= metrics["ece"] <= 1


def test_predicted_spans_are_valid_values_with_a_confidence_each(fitted):
    _, _, test_part, predicted = fitted
    assert predicted.classes is None and predicted.probs is None
    for (text, _), value, scores, conf, unsure in zip(test_part, predicted.values, predicted.scores,
                                                      predicted.confidence, predicted.uncertainty):
        assert validate_value("spans", LABELS, value, {"text": text}) == value  # stored as is when accepted
        assert [{k: s[k] for k in ("start", "end", "label")} for s in scores["spans"]] == value["spans"]
        assert all(0 < s["score"] <= 1 for s in scores["spans"])
        # The item is as sure as its least sure part: no more sure than any of its spans.
        assert 0 < conf <= min([s["score"] for s in scores["spans"]] + [1.0]) + 1e-6
        assert 0 <= unsure <= 1


def test_sure_items_are_right_more_often(fitted):
    _, _, test_part, predicted = fitted
    right = np.array([sorted(map(str, v["spans"])) == sorted(map(str, t)) for v, (_, t) in
                      zip(predicted.values, test_part)])
    sure = predicted.confidence >= 0.9
    assert sure.any() and (~sure).any()
    assert right[sure].mean() > right[~sure].mean()
    # Entropy ranks the wrong ones first too.
    order = np.argsort(-predicted.uncertainty)
    assert right[order[:50]].mean() < right[order[-50:]].mean()


def test_the_model_survives_its_file(fitted, tmp_path, settings):
    backend, model, test_part, predicted = fitted
    settings.MEDIA_ROOT = str(tmp_path)
    digest = artifacts.save(model, "models/spans.joblib")
    again = backend.predict_values(artifacts.load("models/spans.joblib", digest), [{"text": test_part[0][0]}])
    assert again.values[0] == predicted.values[0]
    assert again.confidence[0] == pytest.approx(predicted.confidence[0])


def test_the_spans_learner_is_registered():
    learner = learner_for("spans")
    assert learner.deciding_metric == "f1"
    assert learner.headline == ("f1", "precision", "recall")
    assert learner.has_classes is False
    assert learner.backend({"text": "x"}) is SpansBackend
    assert BACKENDS["builtin_spans"] is SpansBackend


# --- training and pre-labeling in a project ----------------------------------------------------------

@pytest.fixture
def spans_project(admin):
    return make_project(admin, name="Entities", task_type="spans", labels=LABELS, auto_accept_threshold=0.9,
                        escalation_threshold=None, audit_rate=0.0, strategy="least_confidence")


def load_sentences(project, n: int, gold: int, seed: int = 0) -> dict[int, list[dict]]:
    records, truth = ner.records(n, gold, seed)
    import_records(project, iter_array(records, schema_of(project)))
    return {pk: truth[ext] for pk, ext in Item.objects.filter(project=project).values_list("id", "external_id")}


@pytest.mark.django_db
def test_training_on_final_spans_stores_an_active_version_judged_by_f1(spans_project, ml_engineer):
    load_sentences(spans_project, 160, gold=120)

    mv = train(spans_project, user=ml_engineer)

    assert (mv.version, mv.active, mv.backend) == (1, True, "builtin_spans")
    assert mv.train_size + mv.holdout_size == 120
    gold = Item.objects.filter(project=spans_project, final_source=FinalSource.GOLD).values_list("pk", flat=True)
    assert mv.holdout_size == mv.metrics["test_size"] == sum(is_held_out(pk) for pk in gold)
    assert mv.metrics["evaluated_on"] == "holdout"
    assert mv.metrics["f1"] > 0.7, mv.metrics
    assert {"precision", "recall", "per_class", "exact_match", "ece", "calibration"} <= set(mv.metrics)
    assert set(mv.label_counts) == set(LABELS)  # spans per label in the training part
    assert mv.decision["metric"] == "f1" and mv.decision["outcome"] == "first"
    assert not LabelIssue.objects.filter(model_version=mv).exists()  # no classes, no cleanlab


@pytest.mark.django_db
def test_a_second_version_is_judged_against_the_first_on_f1(spans_project):
    load_sentences(spans_project, 160, gold=120)
    first = train(spans_project)
    second = train(spans_project, force=True)

    assert second.decision["champion_version"] == first.version
    assert second.decision["champion"] == pytest.approx(first.metrics["f1"])  # same held-out items, same model
    assert second.decision["outcome"] == "activated"


@pytest.mark.django_db
def test_prelabeling_spans_accepts_the_sure_ones_and_queues_the_unsure_first(spans_project):
    truth = load_sentences(spans_project, 300, gold=120)
    mv = train(spans_project)

    outcome = prelabel.prelabel(spans_project)

    unlabeled = Item.objects.filter(project=spans_project).exclude(final_source=FinalSource.GOLD)
    assert outcome.scored == unlabeled.count() == 180
    accepted = list(unlabeled.filter(status=ItemStatus.AUTO_ACCEPTED))
    queued = list(unlabeled.filter(status=ItemStatus.QUEUED).order_by("-priority", "id"))
    assert accepted and queued and len(accepted) + len(queued) == 180
    for item in accepted:
        assert item.confidence >= 0.9
        assert item.final_source == FinalSource.MODEL
        assert item.final_value == item.prediction["value"]
        assert validate_value("spans", LABELS, item.final_value, item.data) == item.final_value
    assert all(item.confidence < 0.9 for item in queued)
    # Least confidence: the least sure item is served first.
    assert [i.priority for i in queued] == pytest.approx([1 - i.confidence for i in queued])
    assert queued[0].confidence == min(i.confidence for i in queued)
    # What the model accepts on its own is mostly exactly right.
    right = sum(item.final_value["spans"] == truth[item.pk] for item in accepted)
    assert right / len(accepted) > 0.8
    # The item keeps its spans' confidences for the labeling screen.
    item = queued[0]
    assert item.prediction["model_version"] == mv.version
    assert [{k: s[k] for k in ("start", "end", "label")} for s in item.prediction["scores"]["spans"]] == \
        item.prediction["value"]["spans"]
    assert Prediction.objects.filter(model_version=mv).count() == 180


@pytest.mark.django_db
def test_prelabeling_asks_the_model_one_batch_at_a_time(spans_project, monkeypatch):
    load_sentences(spans_project, 150, gold=40)
    train(spans_project)
    sizes = []
    real = SpansBackend.predict_values

    def spy(self, model, data, ids=None):
        sizes.append(len(data))
        return real(self, model, data, ids)

    monkeypatch.setattr(SpansBackend, "predict_values", spy)
    monkeypatch.setattr(prelabel, "BATCH", 40)

    outcome = prelabel.prelabel(spans_project)

    assert sizes == [40, 40, 30]
    assert outcome.scored == 110


@pytest.mark.django_db
def test_entropy_order_uses_the_mean_token_entropy(spans_project):
    spans_project.strategy = "entropy"
    spans_project.save()
    load_sentences(spans_project, 150, gold=60)
    mv = train(spans_project)
    prelabel.prelabel(spans_project)

    queued = list(Item.objects.filter(project=spans_project, status=ItemStatus.QUEUED).order_by("id"))
    model = artifacts.load(mv.artifact.name)
    again = SpansBackend("spans", LABELS).predict_values(model, [i.data for i in queued])
    assert [i.priority for i in queued] == pytest.approx(list(again.uncertainty))


# --- bad input ---------------------------------------------------------------------------------------


def active_version(project) -> ModelVersion:
    """A version fitted on other sentences and made active (as an ML engineer would have done)."""
    sentences = ner.sentences(60, seed=9)
    model = SpansBackend("spans", LABELS).fit([{"text": t} for t, _ in sentences], [s for _, s in sentences])
    relative = artifacts.relative_path(project.pk, 1)
    digest = artifacts.save(model, relative)
    return ModelVersion.objects.create(project=project, version=1, backend="builtin_spans", labels=LABELS,
                                       artifact=relative, artifact_sha256=digest, active=True)


@pytest.mark.django_db
@pytest.mark.parametrize("gold", [1, 9])
def test_too_few_final_spans_is_a_clear_error_and_the_active_model_stays(spans_project, gold):
    before = active_version(spans_project)
    load_sentences(spans_project, 30, gold=gold)

    with pytest.raises(BackendError) as error:
        train(spans_project)

    assert str(error.value) == f"Training needs at least 10 labeled items; the project has {gold}."
    assert list(ModelVersion.objects.filter(project=spans_project)) == [before]
    assert ModelVersion.objects.active_for(spans_project) == before


@pytest.mark.django_db
def test_final_values_without_any_span_are_a_clear_error(spans_project):
    records = [{"data": {"text": f"Nothing happened on day {i}."}, "gold": {"spans": []}} for i in range(20)]
    import_records(spans_project, iter_array(records, schema_of(spans_project)))

    with pytest.raises(BackendError, match="Training needs at least one marked span; none of the project's "
                                           "20 final values has one."):
        train(spans_project)
    assert not ModelVersion.objects.filter(project=spans_project).exists()


@pytest.mark.django_db
def test_overlapping_spans_are_a_clear_error_and_the_active_model_stays(spans_project):
    before = active_version(spans_project)
    load_sentences(spans_project, 40, gold=40)
    # tasks.values accepts overlapping spans (nested entities are a fair annotation); the CRF cannot learn them.
    item = Item.objects.filter(project=spans_project).order_by("id").first()
    text = item.data["text"]
    nested = {"spans": [{"start": 0, "end": len(text) - 1, "label": "ORG"}, {"start": 0, "end": 3, "label": "PER"}]}
    assert validate_value("spans", LABELS, nested, item.data)
    Item.objects.filter(pk=item.pk).update(final_value=nested)

    with pytest.raises(BackendError) as error:
        train(spans_project)

    assert str(error.value) == (
        f"1 of the 40 final values has overlapping spans, which the built-in sequence model cannot learn (it "
        f"gives each word one tag); for example, spans overlap: PER 0–3 and ORG 0–{len(text) - 1}. Correct it "
        f"(keep one span of each overlapping pair), then train again.")
    assert ModelVersion.objects.active_for(spans_project) == before
    assert ModelVersion.objects.filter(project=spans_project).count() == 1


@pytest.mark.django_db
def test_a_span_past_the_end_of_its_text_is_a_clear_error(spans_project):
    load_sentences(spans_project, 40, gold=40)
    item = next(i for i in Item.objects.filter(project=spans_project).order_by("id") if not is_held_out(i.pk))
    n = len(item.data["text"])
    Item.objects.filter(pk=item.pk).update(final_value={"spans": [{"start": 0, "end": n + 5, "label": "PER"}]})
    with pytest.raises(BackendError) as error:
        train(spans_project)
    assert str(error.value) == (f"A final value cannot train the sequence model: span PER 0–{n + 5} is outside its "
                                f"text ({n} characters). Text: {item.data['text'][:80]!r}")
    assert not ModelVersion.objects.filter(project=spans_project).exists()
