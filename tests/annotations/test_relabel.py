"""Renaming and merging labels: every stored value that names the label follows, in one transaction, audited."""
from __future__ import annotations

import pytest

from annotations import relabel
from annotations.models import Annotation, ReviewDecision
from audit.models import AuditEvent
from common.errors import Invalid
from models_registry.models import LabelIssue, ModelVersion, Prediction
from tasks.models import Item, Project
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


def stored(project: Project) -> dict:
    """Every value of the project that may name a label, by table."""
    items = Item.objects.filter(project=project).order_by("id")
    return {
        "annotations": list(Annotation.objects.filter(project=project).order_by("id").values_list("value", flat=True)),
        "reviews": list(ReviewDecision.objects.filter(project=project).order_by("id").values_list("value", flat=True)),
        "final": list(items.values_list("final_value", flat=True)),
        "gold": list(items.values_list("gold", flat=True)),
        "item_predictions": list(items.values_list("prediction", flat=True)),
        "predictions": list(Prediction.objects.filter(item__project=project).order_by("id")
                            .values_list("value", "scores")),
        "issues": list(LabelIssue.objects.filter(item__project=project).order_by("id")
                       .values_list("given", "suggested")),
    }


def fill(project: Project, values: list, users: list, *, model_labels=None) -> ModelVersion:
    """One item per value: an annotation by each user, a review decision, final value, gold and prediction."""
    mv = ModelVersion.objects.create(project=project, version=1, backend="text", labels=model_labels or project.labels,
                                     active=True)
    for item, value in zip(make_items(project, len(values)), values):
        for user in users:
            Annotation.objects.create(project=project, item=item, user=user, value=value)
        ReviewDecision.objects.create(project=project, item=item, reviewer=users[0], value=value,
                                      corrections={"annotators": [], "agreed": [u.pk for u in users], "model": False})
        scores = {label: round(1 / len(project.labels), 6) for label in project.labels}
        Item.objects.filter(pk=item.pk).update(final_value=value, final_source="reviewer", gold=value, prediction={
            "model_version": 1, "value": value, "confidence": 0.5, "scores": scores})
        Prediction.objects.create(item=item, model_version=mv, value=value, confidence=0.5, scores=scores)
        LabelIssue.objects.create(model_version=mv, item=item, rank=1, given=value, suggested=value,
                                  given_probability=0.1, suggested_confidence=0.9)
    return mv


def test_renaming_a_classification_label_rewrites_every_stored_value(admin, annotator, annotator2):
    project = make_project(admin, labels=["pos", "neg"], label_colors={"pos": "#123456"})
    fill(project, [{"label": "pos"}, {"label": "neg"}, {"label": "pos", "answers": {"why": "pos"}}],
         [annotator, annotator2])

    result = relabel.rename_label(project, "pos", "positive", user=admin)

    project.refresh_from_db()
    assert project.labels == ["positive", "neg"] and project.label_colors == {"positive": "#123456"}
    s = stored(project)
    positive, neg = {"label": "positive"}, {"label": "neg"}
    # Rubric answers are not labels: kept word for word, even when one reads like a label.
    answered = {"label": "positive", "answers": {"why": "pos"}}
    assert s["annotations"] == [positive, positive, neg, neg, answered, answered]
    assert s["reviews"] == s["final"] == s["gold"] == [positive, neg, answered]
    assert [p["value"] for p in s["item_predictions"]] == [positive, neg, answered]
    assert s["item_predictions"][0]["scores"] == {"positive": 0.5, "neg": 0.5}
    assert s["predictions"][0] == (positive, {"positive": 0.5, "neg": 0.5})
    assert s["issues"][1] == (neg, neg) and s["issues"][2][0] == answered
    assert result["counts"] == {"annotations": 4, "review_decisions": 2, "predictions": 3, "item_predictions": 3,
                                "final_values": 2, "gold": 2, "label_issues": 2}


def test_renaming_writes_one_audit_event_with_the_counts(admin, annotator):
    project = make_project(admin)
    fill(project, [{"label": "pos"}], [annotator])

    relabel.rename_label(project, "pos", "good", user=admin)

    event = AuditEvent.objects.get(action="labels.renamed")
    assert (event.user_id, event.project_id) == (admin.pk, project.pk)
    assert event.payload["sources"] == ["pos"] and event.payload["target"] == "good"
    assert event.payload["counts"]["annotations"] == 1 and event.payload["counts"]["final_values"] == 1
    assert event.payload["labels"] == ["good", "neg"]


def test_merging_multi_label_values_keeps_the_target_once(admin, annotator):
    project = make_project(admin, task_type="multi_label", labels=["funny", "witty", "sad"])
    fill(project, [{"labels": ["funny", "witty"]}, {"labels": ["witty", "sad"]}, {"labels": ["sad"]}], [annotator])

    result = relabel.merge_labels(project, ["witty"], "funny", user=admin)

    project.refresh_from_db()
    assert project.labels == ["funny", "sad"]
    s = stored(project)
    assert s["annotations"] == [{"labels": ["funny"]}, {"labels": ["funny", "sad"]}, {"labels": ["sad"]}]
    assert s["final"] == s["gold"] == s["reviews"] == s["annotations"]
    # A merged label's probability in multi-label is the larger one (each label scores on its own).
    assert s["predictions"][0][1] == {"funny": 0.333333, "sad": 0.333333}
    assert result["counts"]["annotations"] == 2
    assert AuditEvent.objects.filter(action="labels.merged").count() == 1


def test_merging_classification_scores_adds_them_up(admin, annotator):
    project = make_project(admin, labels=["pos", "neg", "meh"])
    fill(project, [{"label": "meh"}], [annotator])

    relabel.merge_labels(project, ["meh", "neg"], "pos", user=admin)

    s = stored(project)
    assert s["annotations"] == [{"label": "pos"}]
    assert s["predictions"][0][1] == {"pos": 0.999999}
    project.refresh_from_db()
    assert project.labels == ["pos"]


def test_spans_and_boxes_are_relabeled_and_duplicates_merge(admin, annotator):
    spans = make_project(admin, name="NER", task_type="spans", labels=["PER", "PERSON", "ORG"])
    fill(spans, [{"spans": [{"start": 0, "end": 4, "label": "PER"}, {"start": 0, "end": 4, "label": "PERSON"},
                            {"start": 5, "end": 9, "label": "ORG"}]}], [annotator])
    boxes = make_project(admin, name="Cars", task_type="boxes", labels=["car", "auto"])
    box = {"x": 1, "y": 2, "w": 3, "h": 4}
    fill(boxes, [{"boxes": [box | {"label": "car"}, box | {"label": "auto"}]}], [annotator])

    relabel.merge_labels(spans, ["PERSON"], "PER", user=admin)
    relabel.rename_label(boxes, "auto", "car", user=admin, merge=True)

    assert stored(spans)["annotations"] == [{"spans": [{"start": 0, "end": 4, "label": "PER"},
                                                       {"start": 5, "end": 9, "label": "ORG"}]}]
    assert stored(boxes)["final"] == [{"boxes": [box | {"label": "car"}]}]
    boxes.refresh_from_db()
    assert boxes.labels == ["car"]


def test_pairwise_values_have_no_labels_and_stay(admin, annotator):
    project = make_project(admin, task_type="pairwise", labels=["a", "b"])
    item = make_items(project, 1)[0]
    Annotation.objects.create(project=project, item=item, user=annotator, value={"choice": "a"})

    result = relabel.rename_label(project, "a", "left", user=admin)

    assert Annotation.objects.get().value == {"choice": "a"}
    assert set(result["counts"].values()) == {0}
    project.refresh_from_db()
    assert project.labels == ["left", "b"]


def test_renaming_onto_an_existing_label_needs_merge(admin, annotator):
    project = make_project(admin)
    fill(project, [{"label": "pos"}], [annotator])

    with pytest.raises(Invalid) as err:
        relabel.rename_label(project, "pos", "neg", user=admin)

    assert err.value.detail == {"to": ["'neg' is already a label; merge instead."]}
    assert stored(project)["annotations"] == [{"label": "pos"}]
    assert not AuditEvent.objects.filter(action__startswith="labels.").exists()


@pytest.mark.parametrize("call, field", [
    (lambda p, u: relabel.rename_label(p, "nope", "x", user=u), "from"),
    (lambda p, u: relabel.rename_label(p, "pos", "  ", user=u), "to"),
    (lambda p, u: relabel.rename_label(p, "pos", "pos", user=u), "to"),
    (lambda p, u: relabel.rename_label(p, "pos", "x" * 101, user=u), "to"),
    (lambda p, u: relabel.merge_labels(p, [], "pos", user=u), "from"),
    (lambda p, u: relabel.merge_labels(p, ["nope"], "pos", user=u), "from"),
    (lambda p, u: relabel.merge_labels(p, ["pos"], "pos", user=u), "from"),
    (lambda p, u: relabel.merge_labels(p, ["pos"], "new", user=u), "to"),
])
def test_bad_requests_name_their_field_and_change_nothing(admin, call, field):
    project = make_project(admin)
    with pytest.raises(Invalid) as err:
        call(project, admin)
    assert list(err.value.detail) == [field]
    project.refresh_from_db()
    assert project.labels == ["pos", "neg"]


def test_a_failure_midway_rolls_everything_back(admin, annotator, monkeypatch):
    project = make_project(admin, label_colors={"pos": "#123456"})
    fill(project, [{"label": "pos"}, {"label": "neg"}], [annotator])
    before = stored(project)
    calls = []
    real_chunks = relabel._chunks

    def failing(queryset, *args, **kwargs):
        # Annotations and decisions are already rewritten (in the transaction) when the items' turn comes.
        if queryset.model is Item:
            raise RuntimeError("the database went away")
        calls.append(queryset.model)
        return real_chunks(queryset, *args, **kwargs)

    monkeypatch.setattr(relabel, "_chunks", failing)
    with pytest.raises(RuntimeError):
        relabel.rename_label(project, "pos", "positive", user=admin)

    assert calls == [Annotation, ReviewDecision]
    assert stored(project) == before
    project.refresh_from_db()
    assert project.labels == ["pos", "neg"] and project.label_colors == {"pos": "#123456"}
    assert not AuditEvent.objects.filter(action__startswith="labels.").exists()


def test_rows_are_rewritten_in_chunks(admin, annotator, monkeypatch, django_assert_max_num_queries):
    project = make_project(admin)
    items = make_items(project, 25)
    Annotation.objects.bulk_create([Annotation(project=project, item=i, user=annotator, value={"label": "pos"})
                                    for i in items])
    monkeypatch.setattr(relabel, "CHUNK", 10)

    # Not one query per row: per table, a select and a bulk update for each chunk of 10.
    with django_assert_max_num_queries(40):
        result = relabel.rename_label(project, "pos", "good", user=admin)

    assert result["counts"]["annotations"] == 25
    assert list(Annotation.objects.values_list("value", flat=True)) == [{"label": "good"}] * 25


def test_the_active_model_that_knows_the_label_is_deactivated(admin, annotator):
    project = make_project(admin)
    mv = fill(project, [{"label": "pos"}], [annotator])

    result = relabel.rename_label(project, "pos", "good", user=admin)

    mv.refresh_from_db()
    # Its file predicts the old class names, so its label list stays as trained and it stops pre-labeling.
    assert (mv.active, mv.labels) == (False, ["pos", "neg"])
    assert (result["model_deactivated"], result["retrain_needed"]) == (1, True)
    assert AuditEvent.objects.get(action="labels.renamed").payload["retrain_needed"] is True


def test_a_model_without_the_label_stays_active(admin, annotator):
    project = make_project(admin, labels=["pos", "neg", "meh"])
    mv = fill(project, [{"label": "meh"}], [annotator], model_labels=["pos", "neg"])

    result = relabel.rename_label(project, "meh", "neutral", user=admin)

    mv.refresh_from_db()
    assert mv.active and result["retrain_needed"] is False


def test_label_usage_counts_without_writing(admin, annotator, annotator2):
    project = make_project(admin)
    fill(project, [{"label": "pos"}, {"label": "neg"}], [annotator, annotator2])

    usage = relabel.label_usage(project, "pos")

    # Both predictions change: one predicts "pos", and both carry a score for it.
    assert (usage["annotations"], usage["item_predictions"], usage["final_values"]) == (2, 2, 1)
    assert stored(project)["annotations"][0] == {"label": "pos"}


def test_relabel_value_is_pure_and_keeps_unchanged_values():
    value = {"label": "neg"}
    assert relabel.relabel_value("classification", value, {"pos": "good"}) is value
    assert relabel.relabel_value("classification", None, {"pos": "good"}) is None
    assert relabel.relabel_value("ranking", {"ranking": [["pos"]]}, {"pos": "good"}) == {"ranking": [["pos"]]}
    assert relabel.relabel_value("multi_label", {"labels": ["a", "b", "c"]}, {"a": "c"}) == {"labels": ["c", "b"]}
