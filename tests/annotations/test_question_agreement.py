"""Agreement per rubric question: ordinal alpha for ratings, nominal for flags and choices, per pair too."""
from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from accounts.models import Role
from annotations import agreement
from annotations.models import Annotation
from tests.conftest import client_for, make_items, make_project, make_user

RATING = {"id": "helpful", "type": "rating", "scale": 5}
FLAG = {"id": "offensive", "type": "flag"}


def test_rating_answers_get_ordinal_alpha():
    # Two annotators, four items; one is off by one on an item, one by three on another.
    a = [1, 2, 4, 5]
    b = [1, 3, 4, 2]
    answers = [(i, "x", v) for i, v in enumerate(a)] + [(i, "y", v) for i, v in enumerate(b)]
    expected = krippendorff.alpha(reliability_data=np.array([a, b], dtype=float) - 1, value_domain=range(5),
                                  level_of_measurement="ordinal")
    found = agreement.question_agreement(RATING, answers)
    assert found.level == "ordinal" and found.overlapping_items == 4
    assert found.alpha == pytest.approx(expected)
    assert found.pairs == [{"annotators": ("x", "y"), "alpha": pytest.approx(expected), "shared_items": 4}]


def test_ordinal_alpha_punishes_far_ratings_more_than_near_ones():
    near = [(0, "x", 4), (0, "y", 5), (1, "x", 1), (1, "y", 1), (2, "x", 3), (2, "y", 3)]
    far = [(0, "x", 1), (0, "y", 5), (1, "x", 1), (1, "y", 1), (2, "x", 3), (2, "y", 3)]
    assert agreement.question_agreement(RATING, near).alpha > agreement.question_agreement(RATING, far).alpha


def test_flags_get_nominal_alpha_and_undefined_without_variation():
    answers = [(0, "x", True), (0, "y", True), (1, "x", False), (1, "y", False), (2, "x", True), (2, "y", False)]
    found = agreement.question_agreement(FLAG, answers)
    assert found.level == "nominal"
    assert found.alpha == pytest.approx(agreement.alpha(answers, "nominal"))
    assert 0 < found.alpha < 1
    assert agreement.question_agreement(FLAG, [(0, "x", True), (0, "y", True)]).alpha is None
    assert agreement.question_agreement(FLAG, [(0, "x", True)]).overlapping_items == 0


def test_pairs_need_two_shared_items():
    answers = [(0, "x", 1), (0, "y", 2), (1, "x", 3), (1, "y", 3), (1, "z", 5)]
    pairs = agreement.question_agreement(RATING, answers).pairs
    assert [p["annotators"] for p in pairs] == [("x", "y")]


@pytest.mark.django_db
def test_stats_show_agreement_per_question(admin):
    users = [make_user(f"u{k}", Role.ANNOTATOR) for k in range(2)]
    rubric = [{**RATING, "labels": ["1", "2", "3", "4", "5"]}, FLAG,
              {"id": "why", "type": "text", "required": False}]
    project = make_project(admin, users, overlap=2, questions=rubric)
    ratings = [(1, 2), (3, 3), (5, 4)]
    for item, pair in zip(make_items(project, 3), ratings, strict=True):
        for user, r in zip(users, pair, strict=True):
            Annotation.objects.create(project=project, item=item, user=user,
                                      value={"label": "pos", "answers": {"helpful": r, "offensive": False}})
    body = client_for(admin).get(f"/api/projects/{project.pk}/stats/").json()
    helpful, offensive = body["questions"]  # the text question has no agreement figure
    assert (helpful["id"], helpful["level"], helpful["answers"], helpful["overlapping_items"]) == (
        "helpful", "ordinal", 6, 3)
    assert helpful["krippendorff_alpha"] == pytest.approx(
        agreement.alpha([(i, u, r) for i, pair in enumerate(ratings) for u, r in enumerate(pair)], "ordinal",
                        [1, 2, 3, 4, 5]))
    assert helpful["pairs"] == [{"annotators": ["u0", "u1"], "alpha": helpful["krippendorff_alpha"],
                                 "shared_items": 3}]
    assert (offensive["level"], offensive["krippendorff_alpha"]) == ("nominal", None)  # all "no"


@pytest.mark.django_db
def test_dashboard_shows_a_table_per_question(client, admin):
    users = [make_user(f"u{k}", Role.ANNOTATOR) for k in range(2)]
    project = make_project(admin, users, overlap=2, questions=[{**RATING, "text": "How helpful?"}])
    for item, pair in zip(make_items(project, 2), [(1, 2), (4, 4)], strict=True):
        for user, r in zip(users, pair, strict=True):
            Annotation.objects.create(project=project, item=item, user=user,
                                      value={"label": "pos", "answers": {"helpful": r}})
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "Agreement per question" in page and 'id="question-helpful"' in page
    assert "How helpful?" in page and "u0 · u1" in page


@pytest.mark.django_db
def test_dashboard_of_a_project_without_questions_has_no_question_table(client, admin, project):
    client.force_login(admin)
    assert "Agreement per question" not in client.get(f"/projects/{project.pk}/dashboard/").content.decode()
