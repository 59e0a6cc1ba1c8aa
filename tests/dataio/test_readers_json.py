"""JSON arrays (streamed) and JSON Lines uploads through dataio.readers.read. Pure: no database."""
from __future__ import annotations

import io
import tracemalloc

import orjson
import pytest

from dataio.readers import OptionsError, ReadOptions, format_of, read
from dataio.readers.json_stream import CHUNK, iter_array_values
from dataio.records import Record, RecordError, Schema, iter_array

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
TAGS = Schema(task_type="multi_label", labels=["a", "b", "c"])


def error_of(fn, *args, **kwargs) -> RecordError:
    with pytest.raises(RecordError) as info:
        list(fn(*args, **kwargs))
    return info.value


def array(*records) -> bytes:
    return b"[" + b",\n".join(orjson.dumps(r) for r in records) + b"]"


def lines(*records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


class CountingStream(io.BytesIO):
    """A stream that remembers how far it has been read."""

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read = self.tell()
        return data


# --- choosing the reader ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fmt"), [
    ("a.json", "json"), ("A.JSON", "json"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.csv", "csv"),
    ("a.zip", "zip"), ("a.png", "image"), ("a.JPEG", "image"), ("dir/a.tiff", "image"), ("a.webp", "image"),
])
def test_format_follows_the_extension(name, fmt):
    assert format_of(name) == fmt


@pytest.mark.parametrize("name", ["items.txt", "items", "items.json.gz", "items.xlsx"])
def test_unsupported_files_are_refused_naming_them(name):
    error = error_of(read, io.BytesIO(b"[]"), name, TEXT)

    assert (error.record, error.field) == (None, "file")
    assert name in error.message


def test_format_option_overrides_the_extension():
    records = read(io.BytesIO(lines({"text": "a"})), "upload.txt", TEXT, ReadOptions(format="jsonl"))

    assert [r.data for r in records] == [{"text": "a"}]


@pytest.mark.parametrize(("options", "field", "message"), [
    ({"format": "xml"}, "format",
     "unknown format 'xml'; use one of json, jsonl, csv, parquet, zip, image, label_studio"),
    ({"labels_as": "truth"}, "labels_as", "must be one of gold, annotations, predictions"),
    ({"annotator": " "}, "annotator", "must be a username"),
    ({"columns": []}, "columns", "must be a non-empty list of column names"),
])
def test_options_that_cannot_work_cannot_be_made(options, field, message):
    with pytest.raises(OptionsError) as info:
        ReadOptions(**options)

    assert (info.value.record, info.value.field, info.value.message) == (None, field, message)
    assert str(info.value) == f"{field}: {message}"
    assert isinstance(info.value, ValueError)


def test_labels_as_annotations_without_annotator_is_refused_before_reading():
    with pytest.raises(RecordError) as info:
        read(io.BytesIO(b"[]"), "a.json", TEXT, ReadOptions(label_column="label", labels_as="annotations"))

    assert (info.value.record, info.value.field) == (None, "annotator")


def test_decoded_json_bodies_are_read_like_files():
    body = [{"text": "a", "label": "pos"}]

    [record] = iter_array(body, TEXT, ReadOptions(label_column="label"))
    [task] = iter_array([{"data": {"text": "b"}, "annotations": [{"result": [
        {"type": "choices", "value": {"choices": ["neg"]}}]}]}], TEXT, ReadOptions())

    assert (record.data, record.gold) == ({"text": "a"}, {"label": "pos"})
    assert (task.data, task.gold) == ({"text": "b"}, {"label": "neg"})


# --- JSON arrays --------------------------------------------------------------------------------

def test_json_array_of_flat_and_wrapped_records():
    body = array({"text": "a", "external_id": "e1"}, {"data": {"text": "b"}, "gold": {"label": "neg"}})

    first, second = read(io.BytesIO(body), "items.json", TEXT)

    assert first == Record(number=1, data={"text": "a"}, external_id="e1", gold=None)
    assert second == Record(number=2, data={"text": "b"}, external_id=None, gold={"label": "neg"})


@pytest.mark.parametrize("body", [b"[]", b"  [ ]\n", b"\xef\xbb\xbf[]"])
def test_empty_array_has_no_records(body):
    assert list(read(io.BytesIO(body), "items.json", TEXT)) == []


def test_array_is_read_whatever_the_chunk_boundaries():
    records = [{"text": f"review \u00e9\U0001F600 {i}", "n": i * 1.5, "flag": [True, None]} for i in range(200)]
    body = array(*records)

    for chunk in (1, 2, 3, 7, 64, 1000):
        assert [v for _, v in iter_array_values(io.BytesIO(body), chunk=chunk)] == records


def test_array_is_streamed_not_loaded_whole():
    body = array(*({"text": f"review {i}"} for i in range(100_000)))
    stream = CountingStream(body)

    records = read(stream, "items.json", TEXT)
    assert next(records).data == {"text": "review 0"}

    assert len(body) > 2 * CHUNK
    assert stream.bytes_read <= CHUNK


def test_memory_stays_flat_however_long_the_array(tmp_path):
    path = tmp_path / "big.json"
    record = orjson.dumps({"text": "x" * 150, "external_id": None})
    with open(path, "wb") as out:
        out.write(b"[")
        out.write(b",\n".join([record] * 80_000))  # about 14.5 MB
        out.write(b"]")

    tracemalloc.start()
    try:
        with open(path, "rb") as stream:
            count = sum(1 for _ in read(stream, "big.json", TEXT))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert count == 80_000
    assert peak < 8 * 1024 * 1024  # the 1 MB window in bytes and text (about 5 MB), not the 14.5 MB file


def test_syntax_error_deep_in_a_large_file_names_its_line(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as out:
        out.write(b"[\n")  # line 1; record n sits on line n + 1
        for n in range(1, 60_000):
            if n + 1 == 40_000:
                out.write(b'{"text": "review %d" "oops"},\n' % n)
            else:
                out.write(b'{"text": "review %d"},\n' % n)
        out.write(b'{"text": "last"}\n]\n')

    with open(path, "rb") as stream:
        error = error_of(read, stream, "big.json", TEXT)

    assert (error.unit, error.record, error.field) == ("line", 40_000, None)
    assert error.message.startswith("malformed JSON: Expecting ',' delimiter (column ")
    assert str(error).startswith("line 40000: malformed JSON")


def test_bad_record_deep_in_a_file_names_its_position():
    body = array(*({"text": f"t{i}"} for i in range(30_000)), {"txt": "no text"})

    error = error_of(read, io.BytesIO(body), "items.json", TEXT)

    assert error.as_dict() == {"record": 30_001, "field": "data.text", "message": "is required"}


@pytest.mark.parametrize(("body", "line", "message"), [
    (b"", 1, "malformed JSON: the file is empty"),
    (b'[{"text": "a"},]', 1, "malformed JSON: Expecting value (column 16)"),
    (b'[\n{"text": "a"}\n{"text": "b"}]', 3, "malformed JSON: Expecting ',' delimiter (column 1)"),
    (b'[{"text": "a"}', 1, "malformed JSON: unexpected end of file; the array is not closed (column 15)"),
    (b'[{"text": "a"}] [', 1, "malformed JSON: extra data after the array (column 17)"),
    (b'[\n\n{"text": "a\nb"}]', 3, "malformed JSON: Invalid control character (column 12)"),
    (b'[{"text": "\xff"}]', 1, "the file is not UTF-8 text"),
    (b'[{"text": "a", "n": NaN}]', 1, "malformed JSON: NaN is not valid JSON (column 2)"),
    (b'[{"text": "\\ud800"}]', 1, "malformed JSON: a \\u escape is an unpaired UTF-16 surrogate (column 2)"),
    (b"[" * 100_000, 1, "malformed JSON: nested too deeply (column 2)"),
])
def test_malformed_json_names_the_line(body, line, message):
    error = error_of(read, io.BytesIO(body), "items.json", TEXT)

    assert error.as_dict() == {"line": line, "field": None, "message": message}


@pytest.mark.parametrize("body", [
    b'[\n  {"text": "a"},\n  {"text": "b"} x,\n]', b'[1,\n2,\n\n   3,\n  tru]', b'[{"text": "unterminated\n}]',
    b"[\n" + b'{"t": "xxxxxxxxxxxx"},\n' * 50 + b'{"t": 1e}]',
])
def test_where_an_error_is_does_not_depend_on_the_chunk_boundaries(body):
    def message(chunk: int) -> str:
        with pytest.raises(RecordError) as info:
            list(iter_array_values(io.BytesIO(body), chunk=chunk))
        return str(info.value)

    assert {message(chunk) for chunk in range(1, 40)} == {message(CHUNK)}


@pytest.mark.parametrize("body", [b'{"text": "a"}', b'"text"', b"12"])
def test_json_file_must_be_an_array(body):
    error = error_of(read, io.BytesIO(body), "items.json", TEXT)

    assert (error.record, error.message) == (None, "expected a JSON array of records")


def test_paired_surrogate_escapes_are_one_character():
    [record] = read(io.BytesIO(b'[{"text": "\\ud83d\\ude00"}]'), "items.json", TEXT)

    assert record.data == {"text": "\U0001F600"}


# --- JSON Lines ---------------------------------------------------------------------------------

def test_jsonl_records_are_numbered_by_line():
    body = b'{"text": "a"}\n\n{"data": {"text": "b"}, "external_id": 7}\r\n'

    records = list(read(io.BytesIO(body), "items.jsonl", TEXT))

    assert [(r.number, r.unit, r.data, r.external_id) for r in records] == [
        (1, "line", {"text": "a"}, None), (3, "line", {"text": "b"}, "7")]


def test_jsonl_malformed_line_is_named():
    error = error_of(read, io.BytesIO(b'{"text": "a"}\n{"text": \n'), "items.jsonl", TEXT)

    assert (error.unit, error.record, error.field) == ("line", 2, None)
    assert error.message.startswith("malformed JSON")


# --- a label column in flat JSON ----------------------------------------------------------------

def test_label_key_of_flat_records_becomes_gold_by_default():
    body = lines({"text": "a", "label": "pos"}, {"text": "b", "label": ""}, {"data": {"text": "c"}, "label": "neg"},
                 {"data": {"text": "d", "label": "pos"}})

    records = list(read(io.BytesIO(body), "items.jsonl", TEXT, ReadOptions(label_column="label")))

    assert [(r.data, r.gold) for r in records] == [
        ({"text": "a"}, {"label": "pos"}), ({"text": "b"}, None), ({"text": "c"}, {"label": "neg"}),
        ({"text": "d"}, {"label": "pos"})]


def test_label_key_can_become_annotations_or_predictions():
    body = array({"text": "a", "label": "pos"})

    [annotated] = read(io.BytesIO(body), "x.json", TEXT,
                       ReadOptions(label_column="label", labels_as="annotations", annotator="ann"))
    [predicted] = read(io.BytesIO(body), "x.json", TEXT, ReadOptions(label_column="label", labels_as="predictions"))

    assert [(a.user, a.value) for a in annotated.annotations] == [("ann", {"label": "pos"})]
    assert annotated.gold is None
    assert (predicted.prediction.value, predicted.prediction.confidence) == ({"label": "pos"}, None)
    assert predicted.gold is None


@pytest.mark.parametrize("label", [["a", "c"], "a;c", "a|c", '["a", "c"]', " a ; c "])
def test_multi_label_keys_take_lists_and_separated_names(label):
    [record] = read(io.BytesIO(lines({"text": "t", "tags": label})), "x.jsonl", TAGS, ReadOptions(label_column="tags"))

    assert record.gold == {"labels": ["a", "c"]}


def test_unknown_label_is_named_by_its_key():
    error = error_of(read, io.BytesIO(lines({"text": "t"}, {"text": "t", "label": "meh"})), "x.jsonl", TEXT,
                     ReadOptions(label_column="label"))

    assert (error.unit, error.record, error.field) == ("line", 2, "label")
    assert "unknown label 'meh'" in error.message
