"""Rubric questions: the project's schema, the answers an annotation carries, and their aggregate."""
from __future__ import annotations

import pytest

from tasks import lifecycle
from tasks.lifecycle import Reason, Status
from tasks.questions import (
    aggregate,
    low_agreement,
    rating_spreads,
    validate_answers,
    validate_questions,
    validate_value_with_answers,
)
from tasks.values import ValueShapeError

RUBRIC = [
    {"id": "helpful", "type": "rating", "scale": 5, "labels": ["useless", "poor", "ok", "good", "excellent"]},
    {"id": "safe", "type": "flag"},
    {"id": "topic", "type": "choice", "options": ["tech", "food", "other"]},
    {"id": "tags", "type": "choice", "options": ["x", "y", "z"], "multiple": True, "required": False},
    {"id": "why", "type": "text", "required": True, "min_length": 20},
]
GOOD = {"helpful": 4, "safe": False, "topic": "tech", "why": "It answers the question in full."}


def rubric():
    return validate_questions(RUBRIC)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ValueShapeError) as exc:
        fn(*args, **kwargs)
    return exc.value.field


def test_a_rubric_is_normalised_with_defaults():
    qs = rubric()
    assert [q["id"] for q in qs] == ["helpful", "safe", "topic", "tags", "why"]
    assert qs[1] == {"id": "safe", "type": "flag", "text": "safe", "required": True}
    assert qs[2]["multiple"] is False and qs[4]["min_length"] == 20
    assert validate_questions([{"id": "r", "type": "rating", "scale": 7}])[0]["labels"] == list("1234567")


@pytest.mark.parametrize("bad, field", [
    ({"x": 1}, "questions"),
    ([{"id": "a", "type": "rating", "scale": 4}], "questions[0].scale"),
    ([{"id": "a", "type": "flag"}, {"id": "b", "type": "rating", "scale": 10}], "questions[1].scale"),
    ([{"id": "a", "type": "rating", "scale": 5, "labels": ["1", "2"]}], "questions[0].labels"),
    ([{"id": "a", "type": "flag"}, {"id": "a", "type": "flag"}], "questions[1].id"),
    ([{"id": "", "type": "flag"}], "questions[0].id"),
    ([{"id": "a", "type": "slider"}], "questions[0].type"),
    ([{"id": "a", "type": "choice", "options": ["only"]}], "questions[0].options"),
    ([{"id": "a", "type": "text", "min_length": -1}], "questions[0].min_length"),
    ([{"id": "a", "type": "flag", "required": "yes"}], "questions[0].required"),
])
def test_a_bad_rubric_names_the_question_and_field(bad, field):
    assert error_of(validate_questions, bad) == field


def test_good_answers_are_kept_and_blanks_left_out():
    assert validate_answers(rubric(), {**GOOD, "tags": [], "why": "  It answers the question in full. "}) == GOOD
    assert validate_answers(rubric(), {**GOOD, "tags": ["z", "x"]})["tags"] == ["x", "z"]


@pytest.mark.parametrize("change, field", [
    ({"helpful": 6}, "value.answers.helpful"),
    ({"helpful": 0}, "value.answers.helpful"),
    ({"helpful": True}, "value.answers.helpful"),
    ({"safe": "no"}, "value.answers.safe"),
    ({"topic": "sports"}, "value.answers.topic"),
    ({"tags": ["x", "w"]}, "value.answers.tags[1]"),
    ({"why": "too short"}, "value.answers.why"),
    ({"why": ""}, "value.answers.why"),
    ({"helpful": None}, "value.answers.helpful"),
    ({"mood": 1}, "value.answers.mood"),
])
def test_a_bad_answer_names_the_question(change, field):
    assert error_of(validate_answers, rubric(), {**GOOD, **change}) == field


def test_reviewers_may_leave_required_questions_out():
    assert validate_answers(rubric(), {"helpful": 2}, require=False) == {"helpful": 2}


def test_the_value_carries_the_main_label_and_the_answers():
    value = validate_value_with_answers("classification", ["pos", "neg"], RUBRIC,
                                        {"label": "pos", "answers": GOOD})
    assert value == {"label": "pos", "answers": GOOD}
    assert error_of(validate_value_with_answers, "classification", ["pos", "neg"], RUBRIC,
                    {"label": "pos"}) == "value.answers.helpful"
    assert error_of(validate_value_with_answers, "classification", ["pos", "neg"], RUBRIC,
                    {"label": "meh", "answers": GOOD}) == "value.label"


def test_a_project_without_questions_takes_no_answers():
    assert validate_value_with_answers("pairwise", [], [], {"choice": "a"}) == {"choice": "a"}
    assert error_of(validate_value_with_answers, "pairwise", [], [],
                    {"choice": "a", "answers": {"x": 1}}) == "value.answers.x"


def test_answers_aggregate_by_median_rating_and_majority():
    values = [{"label": "pos", "answers": {"helpful": 2, "safe": True, "topic": "tech", "tags": ["x"], "why": "a"}},
              {"label": "pos", "answers": {"helpful": 5, "safe": True, "topic": "food", "tags": ["x", "y"]}},
              {"label": "pos", "answers": {"helpful": 4, "safe": False, "topic": "food", "tags": ["y", "x"]}},
              {"label": "pos", "answers": {"helpful": 3, "safe": False, "topic": "tech", "tags": []}}]
    # Median of 2, 3, 4, 5 is the lower middle (3); a 2-2 flag or choice has no majority: left out.
    assert aggregate(rubric(), values) == {"helpful": 3, "tags": ["x"], "why": "a"}
    assert aggregate(rubric(), values[:3]) == {"helpful": 4, "safe": True, "topic": "food", "tags": ["x", "y"],
                                              "why": "a"}


def test_ratings_that_spread_too_far_are_low_agreement():
    values = [{"answers": {"helpful": 1}}, {"answers": {"helpful": 4}}, {"answers": {}}]
    assert rating_spreads(rubric(), values) == {"helpful": 3}
    assert low_agreement(rubric(), values, 2)
    assert not low_agreement(rubric(), values, 3)
    assert not low_agreement(rubric(), values, None)
    assert not low_agreement(rubric(), values[:1], 0)


def test_an_agreed_item_with_spread_ratings_goes_to_review_as_low_agreement():
    life = lifecycle.settled(Status.QUEUED, agreed=True, value={"label": "pos"}, at=None, escalated=False,
                             low_agreement=True)
    assert (life.status, life.review_reason, life.final_value) == (Status.IN_REVIEW, Reason.LOW_AGREEMENT, None)
    disputed = lifecycle.settled(Status.QUEUED, agreed=False, value=None, at=None, escalated=False,
                                 low_agreement=True)
    assert disputed.review_reason == Reason.DISAGREEMENT


def test_a_models_suggested_answers_are_checked_and_keep_their_confidence():
    from tasks.questions import suggestions

    raw = {"helpful": {"value": 4, "confidence": 0.8}, "safe": {"value": False}}
    assert suggestions(rubric(), raw) == {"helpful": {"value": 4, "confidence": 0.8},
                                          "safe": {"value": False, "confidence": None}}
    assert error_of(suggestions, rubric(), {"helpful": {"value": 9}}) == "answers.helpful"
    assert error_of(suggestions, rubric(), {"helpful": {"value": 3, "confidence": 2}}) == "answers.helpful.confidence"
    assert error_of(suggestions, rubric(), {"helpful": 3}) == "answers.helpful"
