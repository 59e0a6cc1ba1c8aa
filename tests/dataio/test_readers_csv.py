"""CSV uploads through dataio.readers.read: rows numbered by line, the header being line 1. Pure: no database."""
from __future__ import annotations

import io

import pytest

from dataio.readers import ReadOptions, read
from dataio.records import ImportedAnnotation, ImportedPrediction, Record, RecordError, Schema

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
TAGS = Schema(task_type="multi_label", labels=["a", "b", "c"])
PAIRS = Schema(task_type="pairwise", labels=[])
BOXES = Schema(task_type="boxes", labels=["car"])


def records_of(body: bytes, schema: Schema = TEXT, **options) -> list[Record]:
    return list(read(io.BytesIO(body), "items.csv", schema, ReadOptions(**options)))


def error_of(body: bytes, schema: Schema = TEXT, **options) -> RecordError:
    with pytest.raises(RecordError) as info:
        records_of(body, schema, **options)
    return info.value


def test_every_column_goes_into_the_data_but_external_id():
    records = records_of(b"external_id,text,lang\nr1,good film,en\n,bad film,fr\n")

    assert records == [
        Record(number=2, data={"text": "good film", "lang": "en"}, external_id="r1", gold=None, unit="row"),
        Record(number=3, data={"text": "bad film", "lang": "fr"}, external_id=None, gold=None, unit="row"),
    ]


def test_rows_are_numbered_by_the_line_they_start_on():
    body = b'text,lang\r\n"two\nlines",en\r\n\r\n"one line",en\r\n'

    records = records_of(body)

    assert [(r.number, r.data["text"]) for r in records] == [(2, "two\nlines"), (5, "one line")]


def test_a_byte_order_mark_and_spaces_around_names_are_ignored():
    [record] = records_of("\ufefftext , lang\nhi,en\n".encode())

    assert record.data == {"text": "hi", "lang": "en"}


def test_text_column_option_names_the_text():
    [record] = records_of(b"review,stars\nfine,4\n", text_column="review")

    assert record.data == {"text": "fine", "stars": "4"}


def test_columns_option_chooses_the_data():
    [record] = records_of(b"id,text,lang,notes\n1,hi,en,skip me\n", columns=["text", "lang"])

    assert record.data == {"text": "hi", "lang": "en"}


def test_pairwise_and_boxes_need_their_own_columns_not_text():
    [pair] = records_of(b"prompt,a,b\nWhich?,x,y\n", PAIRS)
    [box] = records_of(b"image\nhttps://example.com/a.png\n", BOXES)
    [picture] = records_of(b"image\nhttps://example.com/a.png\n", TEXT)

    assert pair.data == {"prompt": "Which?", "a": "x", "b": "y"}
    assert box.data == picture.data == {"image": "https://example.com/a.png"}


def test_long_cells_are_fine():
    [record] = records_of(b"text\n" + b"x" * 300_000 + b"\n")

    assert len(record.data["text"]) == 300_000


# --- refusals -----------------------------------------------------------------------------------

def test_missing_text_column_is_named_with_the_columns_there_are():
    error = error_of(b"a,b,c\n1,2,3\n")

    assert error.as_dict() == {"record": None, "field": "text",
                               "message": "the CSV has no 'text' column (columns: a, b, c)"}


@pytest.mark.parametrize(("options", "field"), [
    ({"columns": ["text", "lang"]}, "lang"), ({"text_column": "review"}, "review"), ({"label_column": "y"}, "y"),
])
def test_missing_chosen_column_is_named(options, field):
    error = error_of(b"text,x\nhi,1\n", **options)

    assert (error.record, error.field) == (None, field)
    assert error.message == f"the CSV has no {field!r} column (columns: text, x)"


def test_missing_pairwise_column_is_named():
    assert error_of(b"prompt,a\np,x\n", PAIRS).field == "b"


def test_row_with_the_wrong_number_of_cells_is_named_by_line():
    error = error_of(b"text,lang\nhi,en\nthere,en,extra\n")

    assert error.as_dict() == {"row": 3, "field": None, "message": "has 3 cells; the header has 2"}
    assert str(error) == "row 3: has 3 cells; the header has 2"


def test_empty_text_is_named_by_row_and_field():
    error = error_of(b"text\nhi\n\"\"\n")

    assert error.as_dict() == {"row": 3, "field": "data.text", "message": "must be a non-empty string"}


@pytest.mark.parametrize("body", [b"", b"\n\n"])
def test_a_csv_without_header_is_refused(body):
    error = error_of(body)

    assert (error.record, error.field, error.message) == (None, "file", "the CSV file has no header row")


def test_duplicate_column_names_are_refused():
    assert "names the column 'text' twice" in error_of(b"text,text\na,b\n").message


def test_non_utf8_is_named_by_row():
    error = error_of(b"text\nfine\ncaf\xe9\n")

    assert error.as_dict() == {"row": 3, "field": None, "message": "the file is not UTF-8 text"}


def test_external_id_longer_than_allowed_is_named_by_row():
    error = error_of(b"external_id,text\n" + b"x" * 256 + b",hi\n")

    assert (error.unit, error.record, error.field) == ("row", 2, "external_id")


# --- labels -------------------------------------------------------------------------------------

def test_label_column_becomes_gold_and_leaves_the_data():
    records = records_of(b"text,label\ngood,pos\nmeh,\n", label_column="label")

    assert [(r.data, r.gold) for r in records] == [({"text": "good"}, {"label": "pos"}), ({"text": "meh"}, None)]


def test_label_column_becomes_annotations_by_the_annotator():
    [record] = records_of(b"text,label\ngood,pos\n", label_column="label", labels_as="annotations", annotator="ann")

    assert record.annotations == (ImportedAnnotation(user="ann", value={"label": "pos"}),)
    assert record.gold is None


def test_label_column_becomes_predictions():
    [record] = records_of(b"text,label\ngood,neg\n", label_column="label", labels_as="predictions")

    assert record.prediction == ImportedPrediction(value={"label": "neg"}, confidence=None)


def test_annotations_from_a_column_need_an_annotator():
    error = error_of(b"text,label\ngood,pos\n", label_column="label", labels_as="annotations")

    assert (error.record, error.field) == (None, "annotator")


@pytest.mark.parametrize("cell", [b'"a;c"', b"a|c", b'"[""a"", ""c""]"'])
def test_multi_label_cells(cell):
    [record] = records_of(b"text,tags\nt," + cell + b"\n", TAGS, label_column="tags")

    assert record.gold == {"labels": ["a", "c"]}


def test_unknown_label_is_named_by_row_and_column():
    error = error_of(b"text,label\ngood,pos\nbad,negative\n", label_column="label")

    assert (error.unit, error.record, error.field) == ("row", 3, "label")
    assert "unknown label 'negative'" in error.message


@pytest.mark.parametrize("upload", ["memory", "temporary"])
def test_django_uploads_are_read_as_they_come(upload):
    from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

    body = b"text,label\r\ngood,pos\r\n\"two\rlines\",neg\r\n"
    if upload == "memory":
        file = SimpleUploadedFile("items.csv", body)
    else:
        file = TemporaryUploadedFile("items.csv", "text/csv", len(body), None)
        file.write(body)
        file.seek(0)

    records = list(read(file, file.name, TEXT, ReadOptions(label_column="label")))

    assert [(r.number, r.data["text"], r.gold) for r in records] == [
        (2, "good", {"label": "pos"}), (3, "two\rlines", {"label": "neg"})]
    assert not file.closed


def test_annotations_from_a_column_without_annotator_are_refused_before_reading():
    with pytest.raises(RecordError) as info:
        read(io.BytesIO(b""), "items.csv", TEXT, ReadOptions(label_column="label", labels_as="annotations"))

    assert (info.value.record, info.value.field) == (None, "annotator")
