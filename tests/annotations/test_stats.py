"""GET /api/projects/{id}/stats/: agreement, annotators, truth inference, review queue, routing, model."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from annotations.models import Annotation, ReviewDecision
from models_registry.models import ModelVersion
from tasks.models import Item
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db
FLIP = {"pos": "neg", "neg": "pos"}


def annotate(project, item, user, label=None, skipped=False, lead_time=None):
    return Annotation.objects.create(project=project, item=item, user=user, skipped=skipped, lead_time=lead_time,
                                     value=None if skipped else {"label": label})


def stats(user, project):
    response = client_for(user).get(f"/api/projects/{project.pk}/stats/")
    assert response.status_code == 200, response.content
    return response.json()


def annotators(n):
    return [make_user(f"u{k}", Role.ANNOTATOR) for k in range(n)]


def test_alpha_and_per_label_agreement_on_three_annotators_and_four_items(admin):
    users = annotators(3)
    project = make_project(admin, users, labels=["a", "b"], overlap=3)
    # alpha = 1 - (n-1) * disagreeing coincidences / expected = 1 - 11 * 4 / 72 = 7/18 (see test_agreement).
    for item, labels in zip(make_items(project, 4), ["aaa", "aab", "bbb", "abb"], strict=True):
        for user, label in zip(users, labels, strict=True):
            annotate(project, item, user, label)
    body = stats(users[0], project)
    assert body["agreement"]["krippendorff_alpha"] == pytest.approx(7 / 18)
    assert body["agreement"]["overlapping_items"] == 4
    assert body["agreement"]["per_label"] == {"a": pytest.approx(1 / 3), "b": pytest.approx(1 / 3)}
    # Three annotators: one kappa per pair, no single pairwise value.
    assert len(body["agreement"]["cohen_kappa"]) == 3
    assert body["agreement"]["pairwise_kappa"] is None
    assert body["counts"]["new"] == 4 and body["items"] == 4


def test_two_annotators_get_the_hand_computed_cohen_kappa(project, annotator, annotator2):
    # p_o = 4/5, p_e = .6*.4 + .4*.6 = .48, kappa = .32 / .52 = 8/13.
    items = make_items(project, 5)
    for item, a, b in zip(items, ["pos", "pos", "neg", "neg", "pos"], ["pos", "neg", "neg", "neg", "pos"],
                          strict=True):
        annotate(project, item, annotator, a)
        annotate(project, item, annotator2, b)
    body = stats(annotator, project)
    assert body["agreement"]["pairwise_kappa"] == pytest.approx(8 / 13)
    assert body["agreement"]["cohen_kappa"] == [
        {"annotators": ["ann", "bob"], "kappa": pytest.approx(8 / 13), "shared_items": 5}]


def test_annotators_are_scored_against_trusted_final_values_and_gold(project, annotator, annotator2, reviewer):
    items = make_items(project, 5)
    finals = [("pos", "consensus"), ("neg", "reviewer"), ("pos", "model"), (None, ""), (None, "")]
    for item, (label, source) in zip(items, finals, strict=True):
        Item.objects.filter(pk=item.pk).update(final_value=label and {"label": label}, final_source=source)
    Item.objects.filter(pk=items[3].pk).update(gold={"label": "pos"})
    for item, a, b in zip(items[:4], ["pos", "neg", "neg", "pos"], ["pos", "pos", "pos", "neg"], strict=True):
        annotate(project, item, annotator, a, lead_time=2.0)
        annotate(project, item, annotator2, b, lead_time=4.0)
    annotate(project, items[4], annotator, skipped=True)

    body = stats(reviewer, project)
    ann, bob = body["annotators"]
    # The model's value (item 2) is not trusted: ann matches 2 of 2, bob 1 of 2.
    assert ann | {"username": "ann", "annotations": 4, "skips": 1, "agreement_with_final": 1.0, "final_items": 2,
                  "gold_accuracy": 1.0, "gold_items": 1} == ann
    assert ann["mean_lead_time"] == pytest.approx(2.0)
    assert bob["agreement_with_final"] == 0.5 and bob["gold_accuracy"] == 0.0
    # Rows are final labels, columns annotator labels: final pos <- ann pos, bob pos; final neg <- ann neg, bob pos.
    assert body["confusion"] == {"labels": ["pos", "neg"], "matrix": [[2, 0], [1, 1]]}
    assert body["annotations"] == 8


def test_dawid_skene_flags_the_adversarial_annotators_and_beats_majority_vote(admin):
    honest, adversaries = annotators(3), [make_user(f"x{k}", Role.ANNOTATOR) for k in range(2)]
    project = make_project(admin, [*honest, *adversaries], overlap=5)
    items = make_items(project, 12)
    truth = ["pos", "neg"] * 6
    for i, (item, label) in enumerate(zip(items, truth, strict=True)):
        Item.objects.filter(pk=item.pk).update(final_value={"label": label}, final_source="reviewer")
        for user in honest[:2] + (honest[2:] if i < 6 else []):  # the third honest one only on half the items
            annotate(project, item, user, label)
        for user in adversaries:
            annotate(project, item, user, FLIP[label])

    inference = stats(admin, project)["truth_inference"]
    assert inference["dawid_skene_agreement_with_final"] == 1.0
    assert inference["majority_vote_agreement_with_final"] < 1.0
    assert inference["differ"] > 0
    accuracy = {a["username"]: a["estimated_accuracy"] for a in inference["annotators"]}
    assert accuracy["x0"] < 0.1 and accuracy["x1"] < 0.1
    assert min(accuracy["u0"], accuracy["u1"], accuracy["u2"]) > 0.9


def test_a_project_without_overlap_says_so_instead_of_failing(project, annotator, annotator2):
    items = make_items(project, 2)
    annotate(project, items[0], annotator, "pos")
    annotate(project, items[1], annotator2, "neg")
    annotate(project, items[1], annotator, skipped=True)  # a skip is no second opinion
    body = stats(annotator, project)
    assert body["agreement"] is None
    assert "No overlap" in body["agreement_note"]
    assert body["truth_inference"] is None
    assert [a["annotations"] for a in body["annotators"]] == [1, 1]


def test_an_empty_project_answers_with_zeros(project, annotator):
    body = stats(annotator, project)
    assert body["items"] == 0 and body["agreement"] is None and body["annotators"] == []
    assert body["review_queue"] == {"size": 0, "by_reason": {"disagreement": 0, "escalated": 0, "audit": 0,
                                                             "low_agreement": 0}}
    assert body["model"] is None


def test_review_queue_counts_items_in_review_by_reason(project, annotator):
    items = make_items(project, 5)
    for item, reason in zip(items[:4], ["disagreement", "disagreement", "audit", "escalated"], strict=True):
        Item.objects.filter(pk=item.pk).update(status="in_review", review_reason=reason)
    body = stats(annotator, project)
    assert body["review_queue"]["size"] == 4
    assert body["review_queue"]["by_reason"] | {"disagreement": 2, "audit": 1, "escalated": 1} \
        == body["review_queue"]["by_reason"]
    assert body["counts"]["in_review"] == 4 and body["counts"]["new"] == 1


def test_routing_reports_auto_accepted_share_and_audit_accuracy(project, reviewer, ml_engineer):
    items = make_items(project, 4, prediction={"model_version": 1, "value": {"label": "pos"}, "confidence": 0.99})
    Item.objects.filter(pk__in=[i.pk for i in items[:1]]).update(status="auto_accepted", final_source="model",
                                                                 final_value={"label": "pos"})
    for item, label in zip(items[1:], ["pos", "pos", "neg"], strict=True):
        ReviewDecision.objects.create(project=project, item=item, reviewer=reviewer, value={"label": label},
                                      reason="audit")
    ReviewDecision.objects.create(project=project, item=items[0], reviewer=reviewer, value={"label": "neg"},
                                  reason="disagreement")  # not an audit: not counted
    ModelVersion.objects.create(project=project, version=1, backend="tfidf", active=True,
                                metrics={"accuracy": 0.9}, train_size=100)
    body = stats(ml_engineer, project)
    assert body["routing"]["auto_accepted_share"] == 0.25
    assert body["routing"]["audit"] == {"reviewed": 3, "model_correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert body["model"]["version"] == 1 and body["model"]["metrics"] == {"accuracy": 0.9}


def test_spans_projects_report_counts_but_no_agreement(admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], task_type="spans", labels=["PER"], overlap=2)
    [item] = make_items(project, 1)
    for user in (annotator, annotator2):
        Annotation.objects.create(project=project, item=item, user=user,
                                  value={"spans": [{"start": 0, "end": 4, "label": "PER"}]})
    body = stats(annotator, project)
    assert body["agreement"] is None and "spans" in body["agreement_note"]
    assert body["confusion"] is None
    assert [a["annotations"] for a in body["annotators"]] == [1, 1]


def test_pairwise_choices_are_measured_like_labels(admin, annotator, annotator2):
    project = make_project(admin, [annotator, annotator2], task_type="pairwise", labels=[], overlap=2)
    for item in make_items(project, 3):
        for user in (annotator, annotator2):
            Annotation.objects.create(project=project, item=item, user=user, value={"choice": "a"})
    body = stats(annotator, project)
    assert body["agreement"]["per_label"] == {"a": 1.0, "b": None, "tie": None}


def test_query_count_does_not_grow_with_items(project, annotator, annotator2):
    def queries_for_stats():
        with CaptureQueriesContext(connection) as captured:
            stats(annotator, project)
        return len(captured)

    def add_items(n):
        for item in make_items(project, n):
            annotate(project, item, annotator, "pos")
            annotate(project, item, annotator2, "neg")

    add_items(2)
    few = queries_for_stats()
    add_items(40)
    assert queries_for_stats() == few <= 10


def test_member_reads_outsider_gets_404_and_anonymous_401(project, annotator, outsider):
    assert client_for(annotator).get(f"/api/projects/{project.pk}/stats/").status_code == 200
    assert client_for(outsider).get(f"/api/projects/{project.pk}/stats/").status_code == 404
    assert client_for(None).get(f"/api/projects/{project.pk}/stats/").status_code == 401
