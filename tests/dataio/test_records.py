"""Reading import records from JSON arrays and JSON Lines (dataio/records.py). Pure: no database."""
from __future__ import annotations

import io

import pytest

from dataio.records import (
    Record,
    RecordError,
    Schema,
    decode_array,
    iter_array,
    iter_file,
    iter_jsonl,
    parse_record,
)

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
SPANS = Schema(task_type="spans", labels=["PER"])


def error_of(fn, *args, **kwargs) -> RecordError:
    """The RecordError raised by calling `fn`, or by reading the records it returns."""
    with pytest.raises(RecordError) as info:
        result = fn(*args, **kwargs)
        if not isinstance(result, (Record, list)):
            list(result)
    return info.value


# --- one record ---------------------------------------------------------------------------------

def test_flat_object_is_the_data():
    record = parse_record({"text": "hi", "lang": "en"}, 1, TEXT)

    assert record == Record(number=1, data={"text": "hi", "lang": "en"}, external_id=None, gold=None)


def test_flat_object_may_carry_external_id_and_gold_outside_the_data():
    raw = {"text": "hi", "external_id": "x-1", "gold": {"label": "pos"}}

    record = parse_record(raw, 4, TEXT)

    assert record == Record(number=4, data={"text": "hi"}, external_id="x-1", gold={"label": "pos"})
    assert raw == {"text": "hi", "external_id": "x-1", "gold": {"label": "pos"}}  # input untouched


def test_wrapped_record_has_data_external_id_and_gold():
    record = parse_record({"data": {"text": "hi"}, "external_id": "x", "gold": {"label": "neg"}}, 2, TEXT)

    assert record == Record(number=2, data={"text": "hi"}, external_id="x", gold={"label": "neg"})


def test_gold_is_normalised():
    record = parse_record({"text": "Ada", "gold": {"spans": [{"start": 0, "end": 3, "label": "PER", "x": 1}]}},
                          1, SPANS)

    assert record.gold == {"spans": [{"start": 0, "end": 3, "label": "PER"}]}


def test_null_gold_means_no_gold():
    assert parse_record({"data": {"text": "t"}, "gold": None}, 1, TEXT).gold is None


@pytest.mark.parametrize(("external_id", "stored"), [("", None), (None, None), (7, "7"), ("x" * 255, "x" * 255)])
def test_external_id_forms(external_id, stored):
    assert parse_record({"text": "t", "external_id": external_id}, 1, TEXT).external_id == stored


@pytest.mark.parametrize("external_id", [True, 1.5, ["x"], {"id": 1}, "x" * 256])
def test_bad_external_ids_are_refused(external_id):
    error = error_of(parse_record, {"text": "t", "external_id": external_id}, 3, TEXT)

    assert (error.record, error.field) == (3, "external_id")
    assert "at most 255 characters" in error.message


@pytest.mark.parametrize("raw", ["text", 5, None, ["text"], True])
def test_non_objects_are_refused(raw):
    error = error_of(parse_record, raw, 9, TEXT)

    assert (error.record, error.field, error.message) == (9, None, "must be a JSON object")


def test_non_object_data_is_refused():
    error = error_of(parse_record, {"data": ["t"]}, 2, TEXT)

    assert (error.record, error.field, error.message) == (2, "data", "must be an object")


@pytest.mark.parametrize(("raw", "field"), [
    ({"body": "t"}, "data.text"),
    ({"data": {"text": ""}}, "data.text"),
    ({"text": "t", "gold": "pos"}, "gold"),
    ({"text": "t", "gold": {"label": "maybe"}}, "gold.label"),
])
def test_data_and_gold_are_checked_against_the_schema(raw, field):
    error = error_of(parse_record, raw, 5, TEXT)

    assert (error.record, error.field) == (5, field)


def test_gold_spans_are_bounded_by_the_records_text():
    error = error_of(parse_record, {"text": "Ada", "gold": {"spans": [{"start": 0, "end": 4, "label": "PER"}]}},
                     1, SPANS)

    assert error.field == "gold.spans[0].end"


def test_unit_names_lines_in_json_lines():
    error = error_of(parse_record, {"body": "t"}, 12, TEXT, unit="line")

    assert error.as_dict() == {"line": 12, "field": "data.text", "message": "is required"}
    assert str(error) == "line 12: data.text: is required"


# --- errors -------------------------------------------------------------------------------------

def test_record_error_reads_naturally():
    assert str(RecordError(3, "gold.label", "unknown")) == "record 3: gold.label: unknown"
    assert str(RecordError(3, None, "must be a JSON object")) == "record 3: must be a JSON object"
    assert str(RecordError(None, None, "expected a JSON array")) == "file: expected a JSON array"
    assert RecordError(None, "file", "x").as_dict() == {"record": None, "field": "file", "message": "x"}


# --- arrays -------------------------------------------------------------------------------------

def test_decode_array_accepts_bytes_text_and_lists():
    assert decode_array(b'[{"text": "a"}]') == [{"text": "a"}]
    assert decode_array('[{"text": "a"}]') == [{"text": "a"}]
    assert decode_array([1]) == [1]


@pytest.mark.parametrize(("body", "message"), [
    (b'[{"text": "a"},', "malformed JSON"),
    (b"", "malformed JSON"),
    (b'{"text": "a"}', "expected a JSON array"),
    ({"text": "a"}, "expected a JSON array"),
    (b'"text"', "expected a JSON array"),
])
def test_decode_array_refuses_what_is_not_a_json_array(body, message):
    error = error_of(decode_array, body)

    assert error.record is None
    assert message in error.message


def test_array_records_are_numbered_from_one():
    records = list(iter_array([{"text": "a"}, {"text": "b"}], TEXT))

    assert [(r.number, r.data) for r in records] == [(1, {"text": "a"}), (2, {"text": "b"})]


def test_array_stops_at_the_first_bad_record_naming_it():
    records = iter_array([{"text": "a"}, {"text": "b"}, {"txt": "c"}, {"txt": "d"}], TEXT)

    assert next(records).number == 1
    assert next(records).number == 2
    with pytest.raises(RecordError) as info:
        next(records)
    assert (info.value.record, info.value.unit, info.value.field) == (3, "record", "data.text")


# --- JSON Lines ---------------------------------------------------------------------------------

def test_jsonl_records_are_numbered_by_line_skipping_blank_lines():
    stream = io.BytesIO(b'{"text": "a"}\n\n  \n{"text": "b"}\r\n{"text": "c"}')

    assert [(r.number, r.data["text"]) for r in iter_jsonl(stream, TEXT)] == [(1, "a"), (4, "b"), (5, "c")]


def test_jsonl_malformed_line_is_named():
    error = error_of(iter_jsonl, io.BytesIO(b'{"text": "a"}\n{"text": \n'), TEXT)

    assert (error.record, error.unit, error.field) == (2, "line", None)
    assert "malformed JSON" in error.message


def test_jsonl_bad_record_is_named_by_line():
    error = error_of(iter_jsonl, io.BytesIO(b'{"text": "a"}\n\n[1, 2]\n'), TEXT)

    assert error.as_dict() == {"line": 3, "field": None, "message": "must be a JSON object"}


def test_jsonl_is_read_lazily():
    lines = iter([b'{"text": "a"}\n', b"not json\n"])
    records = iter_jsonl(lines, TEXT)

    assert next(records).data == {"text": "a"}
    with pytest.raises(RecordError):
        next(records)


def test_empty_jsonl_has_no_records():
    assert list(iter_jsonl(io.BytesIO(b""), TEXT)) == []


# --- files --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["items.jsonl", "ITEMS.JSONL", "items.ndjson"])
def test_json_lines_files_by_extension(name):
    records = iter_file(io.BytesIO(b'{"text": "a"}\n{"text": "b"}\n'), name, TEXT)

    assert [r.number for r in records] == [1, 2]


@pytest.mark.parametrize("name", ["items.json", "Items.JSON"])
def test_json_files_by_extension(name):
    records = iter_file(io.BytesIO(b'[{"text": "a"}, {"text": "b"}]'), name, TEXT)

    assert [r.data["text"] for r in records] == ["a", "b"]


def test_json_file_must_be_an_array():
    error = error_of(iter_file, io.BytesIO(b'{"text": "a"}'), "items.json", TEXT)

    assert error.message == "expected a JSON array of records"


@pytest.mark.parametrize("name", ["items.txt", "items", "items.json.gz", "items.zip"])
def test_other_files_are_refused(name):
    error = error_of(iter_file, io.BytesIO(b"[]"), name, TEXT)

    assert (error.record, error.field) == (None, "file")
    assert name in error.message
