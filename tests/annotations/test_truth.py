"""Consensus by Dawid–Skene (project.consensus_method = "dawid_skene"), its fallback, and the setting."""
from __future__ import annotations

import pytest

from accounts.models import Role
from annotations import truth
from annotations.consensus import decide
from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db
FLIP = {"pos": "neg", "neg": "pos"}


def submit(user, item, label):
    r = client_for(user).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": label}}, format="json")
    assert r.status_code == 201, r.content


def history(project, honest, adversary, noisy, n=20):
    """Past items: honest annotators always right, the adversary always flips, the noisy one half right."""
    items = make_items(project, n)
    for i, item in enumerate(items):
        label = "pos" if i % 2 else "neg"
        who = [honest[0], honest[1]] if i < n // 2 else [honest[1], noisy]
        for user in who:
            said = label if user is not noisy or i % 4 < 2 else FLIP[label]
            Annotation.objects.create(project=project, item=item, user=user, value={"label": said})
        Annotation.objects.create(project=project, item=item, user=adversary, value={"label": FLIP[label]})


@pytest.fixture
def crowd(admin):
    honest = [make_user(f"g{k}", Role.ANNOTATOR) for k in range(2)]
    adversary, noisy = make_user("x", Role.ANNOTATOR), make_user("n", Role.ANNOTATOR)
    return admin, honest, adversary, noisy


@pytest.mark.parametrize("method, expected", [("dawid_skene", "pos"), ("majority", "neg")])
def test_dawid_skene_outvotes_an_adversarial_majority(crowd, method, expected):
    admin, honest, adversary, noisy = crowd
    project = make_project(admin, [*honest, adversary, noisy], overlap=3, consensus_method=method)
    history(project, honest, adversary, noisy)
    [item] = make_items(project, 1)
    # The truth is "pos": the adversary and the noisy annotator both say "neg", one honest annotator "pos".
    submit(adversary, item, "neg")
    submit(noisy, item, "neg")
    submit(honest[0], item, "pos")
    assert decide("classification", [{"label": "neg"}, {"label": "neg"}, {"label": "pos"}]).value == {"label": "neg"}
    item.refresh_from_db()
    # Majority vote gets it wrong; Dawid–Skene has learnt that the adversary's "neg" means "pos".
    assert (item.status, item.final_source, item.final_value) == ("done", "consensus", {"label": expected})


def test_dawid_skene_posterior_and_annotators_of_the_fit(crowd):
    admin, honest, adversary, noisy = crowd
    project = make_project(admin, [*honest, adversary, noisy], overlap=3, consensus_method="dawid_skene")
    history(project, honest, adversary, noisy)
    [item] = make_items(project, 1)
    for user, label in ((adversary, "neg"), (noisy, "neg"), (honest[0], "pos")):
        Annotation.objects.create(project=project, item=item, user=user, value={"label": label})
    ratings = truth.project_ratings(project.pk, item.pk)
    assert len({i for i, _, _ in ratings}) == 21
    decision = truth.decide_by_dawid_skene(ratings, item.pk, [{"label": "neg"}] * 2 + [{"label": "pos"}])
    assert decision.method == "dawid_skene" and decision.outcome.value == {"label": "pos"}
    assert decision.posterior >= 0.9


def test_with_little_data_dawid_skene_falls_back_to_majority(admin):
    users = [make_user(f"u{k}", Role.ANNOTATOR) for k in range(3)]
    project = make_project(admin, users, labels=["a", "b", "c"], overlap=3, consensus_method="dawid_skene")
    agreed, split = make_items(project, 2)
    for user, label in zip(users, "aab", strict=True):
        submit(user, agreed, label)
    for user, label in zip(users, "abc", strict=True):
        submit(user, split, label)
    agreed.refresh_from_db()
    split.refresh_from_db()
    assert (agreed.final_source, agreed.final_value) == ("consensus", {"label": "a"})
    assert (split.status, split.review_reason) == ("in_review", "disagreement")


def test_fallback_when_fewer_than_three_annotators():
    ratings = [(i, a, "x" if i % 2 else "y") for i in range(30) for a in ("p", "q")]
    decision = truth.decide_by_dawid_skene(ratings, 0, [{"label": "y"}, {"label": "y"}])
    assert decision.method == "majority" and decision.outcome.value == {"label": "y"}


def test_only_classification_projects_use_dawid_skene(admin):
    project = make_project(admin, task_type="multi_label", consensus_method="dawid_skene")
    assert not truth.uses_dawid_skene(project)
    project.task_type = "classification"
    assert truth.uses_dawid_skene(project)


def test_consensus_method_is_a_project_setting(admin, annotator):
    project = make_project(admin, [annotator])
    client = client_for(admin)
    assert client.get(f"/api/projects/{project.pk}/").json()["consensus_method"] == "majority"
    r = client.patch(f"/api/projects/{project.pk}/", {"consensus_method": "dawid_skene"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["consensus_method"] == "dawid_skene"
    project.refresh_from_db()
    assert project.consensus_method == "dawid_skene"
    r = client.patch(f"/api/projects/{project.pk}/", {"consensus_method": "wisdom"}, format="json")
    assert r.status_code == 400 and "consensus_method" in r.json()
    # Annotators may read the project but not change how it is decided.
    assert client_for(annotator).patch(f"/api/projects/{project.pk}/", {"consensus_method": "majority"},
                                       format="json").status_code == 403
    assert Item.objects.count() == 0
