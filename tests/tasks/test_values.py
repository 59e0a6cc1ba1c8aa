"""Value and item-data shapes per task type (tasks/values.py). Pure: no database."""
from __future__ import annotations

import math

import pytest

from tasks.values import ValueShapeError, validate_data, validate_value


def error_of(fn, *args, **kwargs) -> ValueShapeError:
    with pytest.raises(ValueShapeError) as info:
        fn(*args, **kwargs)
    return info.value


# --- classification -----------------------------------------------------------------------------

def test_classification_accepts_a_known_label():
    assert validate_value("classification", ["pos", "neg"], {"label": "neg"}) == {"label": "neg"}


def test_classification_drops_extra_keys():
    assert validate_value("classification", ["pos"], {"label": "pos", "note": "x"}) == {"label": "pos"}


@pytest.mark.parametrize(("value", "field", "message"), [
    ({"label": "meh"}, "value.label", "unknown label 'meh'"),
    ({"label": None}, "value.label", "must be a label name"),
    ({"label": ["pos"]}, "value.label", "must be a label name"),
    ({}, "value.label", "is required"),
    ("pos", "value", "must be an object with 'label'"),
    (None, "value", "must be an object"),
    (["pos"], "value", "must be an object"),
])
def test_classification_refuses_what_does_not_fit(value, field, message):
    error = error_of(validate_value, "classification", ["pos", "neg"], value)

    assert error.field == field
    assert message in error.message
    assert str(error) == f"{field}: {error.message}"


def test_error_lists_the_projects_labels():
    error = error_of(validate_value, "classification", ["pos", "neg"], {"label": "x"})

    assert "['pos', 'neg']" in error.message


def test_labels_are_case_sensitive():
    assert error_of(validate_value, "classification", ["pos"], {"label": "POS"}).field == "value.label"


# --- multi_label --------------------------------------------------------------------------------

def test_multi_label_keeps_the_chosen_labels_in_order():
    assert validate_value("multi_label", ["a", "b", "c"], {"labels": ["c", "a"]}) == {"labels": ["c", "a"]}


def test_multi_label_may_choose_nothing():
    assert validate_value("multi_label", ["a"], {"labels": []}) == {"labels": []}


@pytest.mark.parametrize(("value", "field", "message"), [
    ({"labels": "a"}, "value.labels", "must be a list"),
    ({"labels": None}, "value.labels", "must be a list"),
    ({"labels": ["a", "z"]}, "value.labels[1]", "unknown label 'z'"),
    ({"labels": ["a", 3]}, "value.labels[1]", "must be a label name"),
    ({"labels": ["b", "a", "b"]}, "value.labels[2]", "listed twice"),
    ({"label": "a"}, "value.labels", "is required"),
])
def test_multi_label_refuses_what_does_not_fit(value, field, message):
    error = error_of(validate_value, "multi_label", ["a", "b"], value)

    assert (error.field, message in error.message) == (field, True)


# --- spans --------------------------------------------------------------------------------------

TEXT = {"text": "Ada in London"}  # 13 characters


def test_spans_are_sorted_by_position_and_stripped_of_extras():
    value = {"spans": [{"start": 7, "end": 13, "label": "LOC", "text": "London"},
                       {"start": 0, "end": 3, "label": "PER"}]}

    assert validate_value("spans", ["PER", "LOC"], value, TEXT) == {"spans": [
        {"start": 0, "end": 3, "label": "PER"}, {"start": 7, "end": 13, "label": "LOC"}]}


def test_spans_may_overlap_and_be_empty():
    overlapping = {"spans": [{"start": 0, "end": 6, "label": "PER"}, {"start": 4, "end": 13, "label": "LOC"}]}

    assert len(validate_value("spans", ["PER", "LOC"], overlapping, TEXT)["spans"]) == 2
    assert validate_value("spans", ["PER"], {"spans": []}, TEXT) == {"spans": []}


def test_span_end_is_exclusive_and_may_reach_the_end_of_the_text():
    value = {"spans": [{"start": 12, "end": 13, "label": "LOC"}]}

    assert validate_value("spans", ["LOC"], value, TEXT) == value


def test_span_offsets_count_characters_not_bytes():
    data = {"text": "naïve ☃"}  # 7 characters, 10 bytes in UTF-8

    assert validate_value("spans", ["X"], {"spans": [{"start": 6, "end": 7, "label": "X"}]}, data)
    assert error_of(validate_value, "spans", ["X"], {"spans": [{"start": 6, "end": 8, "label": "X"}]},
                    data).field == "value.spans[0].end"


def test_spans_are_not_bounded_without_text():
    value = {"spans": [{"start": 0, "end": 10_000, "label": "X"}]}

    assert validate_value("spans", ["X"], value) == value
    assert validate_value("spans", ["X"], value, {"image": "u"}) == value


@pytest.mark.parametrize(("span", "field", "message"), [
    ({"start": 0, "end": 14, "label": "PER"}, "value.spans[1].end", "past the end of the text (13 characters)"),
    ({"start": 5, "end": 5, "label": "PER"}, "value.spans[1].end", "greater than start"),
    ({"start": 5, "end": 4, "label": "PER"}, "value.spans[1].end", "greater than start"),
    ({"start": -1, "end": 4, "label": "PER"}, "value.spans[1].start", "non-negative integer"),
    ({"start": 0.0, "end": 4, "label": "PER"}, "value.spans[1].start", "non-negative integer"),
    ({"start": "0", "end": 4, "label": "PER"}, "value.spans[1].start", "non-negative integer"),
    ({"start": False, "end": 4, "label": "PER"}, "value.spans[1].start", "non-negative integer"),
    ({"start": 0, "end": True, "label": "PER"}, "value.spans[1].end", "greater than start"),
    ({"start": 0, "end": 4.0, "label": "PER"}, "value.spans[1].end", "greater than start"),
    ({"start": 0, "end": 4, "label": "ORG"}, "value.spans[1].label", "unknown label 'ORG'"),
    ({"start": 0, "end": 4}, "value.spans[1].label", "is required"),
    ({"end": 4, "label": "PER"}, "value.spans[1].start", "is required"),
    ([0, 4, "PER"], "value.spans[1]", "must be an object"),
])
def test_spans_refuse_what_does_not_fit_naming_the_span(span, field, message):
    value = {"spans": [{"start": 0, "end": 3, "label": "PER"}, span]}

    error = error_of(validate_value, "spans", ["PER", "LOC"], value, TEXT)

    assert error.field == field
    assert message in error.message


def test_spans_must_be_a_list():
    assert error_of(validate_value, "spans", ["PER"], {"spans": {"start": 0}}, TEXT).field == "value.spans"


# --- boxes --------------------------------------------------------------------------------------

def test_boxes_accept_integer_and_fractional_pixels():
    value = {"boxes": [{"x": 0, "y": 2.5, "w": 30, "h": 40.25, "label": "car", "score": 0.9}]}

    assert validate_value("boxes", ["car"], value) == {"boxes": [
        {"x": 0, "y": 2.5, "w": 30, "h": 40.25, "label": "car"}]}


def test_boxes_may_be_empty():
    assert validate_value("boxes", ["car"], {"boxes": []}) == {"boxes": []}


@pytest.mark.parametrize(("box", "field", "message"), [
    ({"x": -1, "y": 0, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].x", "non-negative"),
    ({"x": 0, "y": -0.5, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].y", "non-negative"),
    ({"x": 0, "y": 0, "w": 0, "h": 1, "label": "car"}, "value.boxes[0].w", "positive"),
    ({"x": 0, "y": 0, "w": 1, "h": -2, "label": "car"}, "value.boxes[0].h", "positive"),
    ({"x": "0", "y": 0, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].x", "number of pixels"),
    ({"x": True, "y": 0, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].x", "number of pixels"),
    ({"x": None, "y": 0, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].x", "number of pixels"),
    ({"x": math.nan, "y": 0, "w": 1, "h": 1, "label": "car"}, "value.boxes[0].x", "number of pixels"),
    ({"x": 0, "y": 0, "w": math.inf, "h": 1, "label": "car"}, "value.boxes[0].w", "number of pixels"),
    ({"x": 0, "y": 0, "w": 1, "h": math.nan, "label": "car"}, "value.boxes[0].h", "number of pixels"),
    ({"x": 0, "y": 0, "w": 1, "h": 1, "label": "bus"}, "value.boxes[0].label", "unknown label 'bus'"),
    ({"x": 0, "y": 0, "w": 1, "label": "car"}, "value.boxes[0].h", "is required"),
    ("box", "value.boxes[0]", "must be an object"),
])
def test_boxes_refuse_what_does_not_fit_naming_the_box(box, field, message):
    error = error_of(validate_value, "boxes", ["car"], {"boxes": [box]})

    assert error.field == field
    assert message in error.message


def test_boxes_must_be_a_list():
    assert error_of(validate_value, "boxes", ["car"], {"boxes": "car"}).field == "value.boxes"


def test_huge_integer_pixels_are_numbers():
    value = {"boxes": [{"x": 10 ** 30, "y": 0, "w": 1, "h": 1, "label": "car"}]}

    assert validate_value("boxes", ["car"], value) == value


# --- pairwise -----------------------------------------------------------------------------------

@pytest.mark.parametrize("choice", ["a", "b", "tie"])
def test_pairwise_accepts_a_b_or_tie(choice):
    assert validate_value("pairwise", [], {"choice": choice, "why": "x"}) == {"choice": choice}


@pytest.mark.parametrize("value", [{"choice": "A"}, {"choice": "both"}, {"choice": None}, {"choice": ["a"]}])
def test_pairwise_refuses_other_choices(value):
    error = error_of(validate_value, "pairwise", [], value)

    assert error.field == "value.choice"
    assert error.message == "must be 'a', 'b' or 'tie'"


def test_pairwise_needs_a_choice():
    assert error_of(validate_value, "pairwise", [], {}).field == "value.choice"


# --- common -------------------------------------------------------------------------------------

def test_unknown_task_type_is_refused():
    assert error_of(validate_value, "sorting", ["a"], {"label": "a"}).field == "task_type"
    assert error_of(validate_data, "sorting", {"text": "t"}).field == "task_type"


def test_field_prefix_names_where_the_value_came_from():
    error = error_of(validate_value, "spans", ["PER"], {"spans": [{"start": 0, "end": 9, "label": "PER"}]},
                     {"text": "Ada"}, field="gold")

    assert error.field == "gold.spans[0].end"


def test_the_value_passed_in_is_not_changed():
    value = {"spans": [{"start": 4, "end": 5, "label": "X"}, {"start": 0, "end": 1, "label": "X", "extra": 1}]}
    before = repr(value)

    validate_value("spans", ["X"], value, {"text": "hello"})

    assert repr(value) == before


# --- item data ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("task_type", "data"), [
    ("classification", {"text": "t"}),
    ("classification", {"image": "https://example.com/a.png"}),
    ("classification", {"text": "t", "image": "not checked when there is text"}),
    ("multi_label", {"text": "t", "meta": {"any": "thing"}}),
    ("multi_label", {"image": "u"}),
    ("spans", {"text": "t"}),
    ("boxes", {"image": "u", "width": 640}),
    ("pairwise", {"prompt": "p", "a": "x", "b": "y"}),
])
def test_data_that_fits_its_task_type_is_accepted(task_type, data):
    assert validate_data(task_type, data) is None


@pytest.mark.parametrize(("task_type", "data", "field", "message"), [
    ("classification", {}, "data.text", "is required"),
    ("classification", {"text": ""}, "data.text", "non-empty string"),
    ("classification", {"text": "   "}, "data.text", "non-empty string"),
    ("classification", {"text": 42}, "data.text", "non-empty string"),
    ("classification", {"image": ""}, "data.image", "non-empty string"),
    ("classification", {"text": "", "image": "u"}, "data.text", "non-empty string"),
    ("multi_label", {"body": "t"}, "data.text", "is required"),
    ("spans", {"image": "u"}, "data.text", "is required"),
    ("boxes", {"text": "t"}, "data.image", "is required"),
    ("boxes", {"image": None}, "data.image", "non-empty string"),
    ("pairwise", {"a": "x", "b": "y"}, "data.prompt", "is required"),
    ("pairwise", {"prompt": "p", "b": "y"}, "data.a", "is required"),
    ("pairwise", {"prompt": "p", "a": "x", "b": ""}, "data.b", "non-empty string"),
    ("classification", ["t"], "data", "must be an object"),
    ("classification", "t", "data", "must be an object"),
])
def test_data_that_does_not_fit_is_refused_naming_the_field(task_type, data, field, message):
    error = error_of(validate_data, task_type, data)

    assert error.field == field
    assert message in error.message


def test_data_field_prefix_is_configurable():
    assert error_of(validate_data, "boxes", {}, field="records[3]").field == "records[3].image"
