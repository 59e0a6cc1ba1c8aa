"""Ranking items and values (tasks/values.py): a prompt with 2-10 responses, ranked best first with ties."""
from __future__ import annotations

import pytest

from tasks.values import ValueShapeError, validate_data, validate_value


def error_of(fn, *args, **kwargs) -> ValueShapeError:
    with pytest.raises(ValueShapeError) as info:
        fn(*args, **kwargs)
    return info.value


def ranking_data(*ids: str) -> dict:
    return {"prompt": "Which is warmest?", "responses": [{"id": i, "text": f"text {i}"} for i in ids]}


DATA = ranking_data("r1", "r2", "r3", "r4")


def test_ranking_accepts_every_response_once_with_ties():
    value = {"ranking": [["r2"], ["r1", "r3"], ["r4"]], "note": "dropped"}

    assert validate_value("ranking", [], value, DATA) == {"ranking": [["r2"], ["r1", "r3"], ["r4"]]}


def test_ranking_may_tie_everything():
    assert validate_value("ranking", [], {"ranking": [["r4", "r3", "r2", "r1"]]}, DATA) == \
        {"ranking": [["r4", "r3", "r2", "r1"]]}


@pytest.mark.parametrize(("value", "field", "message"), [
    ({"ranking": [["r1"], ["r2"], ["r3"]]}, "value.ranking", "response 'r4' is not ranked"),
    ({"ranking": [["r1"], ["r2", "r1"], ["r3"], ["r4"]]}, "value.ranking[1][1]", "response 'r1' is ranked twice"),
    ({"ranking": [["r1"], ["r2"], ["r3"], ["r4"], ["r9"]]}, "value.ranking[4][0]", "unknown response 'r9'"),
    ({"ranking": [["r1"], [], ["r2", "r3", "r4"]]}, "value.ranking[1]", "must be a non-empty list"),
    ({"ranking": ["r1", "r2", "r3", "r4"]}, "value.ranking[0]", "must be a non-empty list"),
    ({"ranking": [["r1", 2], ["r3", "r4"]]}, "value.ranking[0][1]", "must be a response id"),
    ({"ranking": []}, "value.ranking", "must be a non-empty list"),
    ({"ranking": "r1>r2"}, "value.ranking", "must be a non-empty list"),
    ({"order": [["r1"]]}, "value.ranking", "is required"),
    (None, "value", "must be an object"),
])
def test_ranking_refuses_what_does_not_rank_every_response_once(value, field, message):
    err = error_of(validate_value, "ranking", [], value, DATA)

    assert err.field == field
    assert message in err.message


def test_a_ranking_checked_without_its_item_still_refuses_repeats():
    assert validate_value("ranking", [], {"ranking": [["x"], ["y"]]}) == {"ranking": [["x"], ["y"]]}
    assert error_of(validate_value, "ranking", [], {"ranking": [["x"], ["x"]]}).field == "value.ranking[1][0]"


def test_ranking_data_needs_a_prompt_and_two_to_ten_responses():
    validate_data("ranking", ranking_data("a", "b"))
    validate_data("ranking", ranking_data(*"abcdefghij"))


@pytest.mark.parametrize(("data", "field", "message"), [
    (ranking_data("a"), "data.responses", "2 to 10 responses, not 1"),
    (ranking_data(*"abcdefghijk"), "data.responses", "2 to 10 responses, not 11"),
    ({"prompt": "p"}, "data.responses", "is required"),
    ({"prompt": "p", "responses": "a, b"}, "data.responses", "is required"),
    ({"responses": ranking_data("a", "b")["responses"]}, "data.prompt", "is required"),
    (ranking_data("a", "b", "a"), "data.responses[2].id", "used twice"),
    ({"prompt": "p", "responses": [{"id": "a", "text": "x"}, {"id": " ", "text": "y"}]}, "data.responses[1].id",
     "must be a non-empty string"),
    ({"prompt": "p", "responses": [{"id": "a", "text": "x"}, {"id": 2, "text": "y"}]}, "data.responses[1].id",
     "must be a non-empty string"),
    ({"prompt": "p", "responses": [{"id": "a", "text": "x"}, {"id": "b", "text": ""}]}, "data.responses[1].text",
     "must be a non-empty string"),
    ({"prompt": "p", "responses": [{"id": "a", "text": "x"}, {"id": "b"}]}, "data.responses[1].text", "is required"),
    ({"prompt": "p", "responses": [{"id": "a", "text": "x"}, "b"]}, "data.responses[1]", "must be an object"),
])
def test_ranking_data_names_the_field_at_fault(data, field, message):
    err = error_of(validate_data, "ranking", data)

    assert err.field == field
    assert message in err.message
