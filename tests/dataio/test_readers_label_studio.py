"""Label Studio's JSON export through dataio.readers.read. Pure: no database."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import orjson
import pytest

from dataio.readers import ReadOptions, read
from dataio.records import ImportedAnnotation, ImportedFinal, ImportedPrediction, Record, RecordError, Schema

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
TAGS = Schema(task_type="multi_label", labels=["a", "b", "c"])
SPANS = Schema(task_type="spans", labels=["PER", "LOC"])
BOXES = Schema(task_type="boxes", labels=["car", "bike"])
PAIRS = Schema(task_type="pairwise", labels=[])
T0 = datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)


def read_tasks(tasks: list, schema: Schema, name: str = "export.json", **options) -> list[Record]:
    return list(read(io.BytesIO(orjson.dumps(tasks)), name, schema, ReadOptions(**options)))


def error_of(tasks: list, schema: Schema, **options) -> RecordError:
    with pytest.raises(RecordError) as info:
        read_tasks(tasks, schema, **options)
    return info.value


def choices(*names: str) -> list[dict]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": list(names)}}]


def task(data: dict, annotations=(), predictions=(), **extra) -> dict:
    return {"id": extra.pop("id", 1), "data": data, "annotations": list(annotations),
            "predictions": list(predictions), **extra}


def annotation(result: list, completed_by=7, **extra) -> dict:
    return {"completed_by": completed_by, "result": result, "was_cancelled": False, "ground_truth": False,
            "lead_time": 4.5, "created_at": "2024-05-01T10:00:00.500000Z"} | extra


# --- classification -----------------------------------------------------------------------------

CLASSIFIED = [
    task({"text": "great"}, id=11,
         annotations=[annotation(choices("pos"), {"id": 7, "email": "ann@example.org"}),
                      annotation(choices("neg"), {"id": 8, "email": "bob@example.org"}),
                      annotation([], {"id": 9, "email": "cat@example.org"}, was_cancelled=True)],
         predictions=[{"model_version": "m1", "score": 0.8, "result": choices("pos")}]),
]


def test_classification_annotations_and_prediction():
    [record] = read_tasks(CLASSIFIED, TEXT, labels_as="annotations")

    assert (record.number, record.data, record.external_id, record.gold) == (1, {"text": "great"}, "11", None)
    assert record.annotations == (
        ImportedAnnotation(user="ann", value={"label": "pos"}, skipped=False, lead_time=4.5, created_at=T0),
        ImportedAnnotation(user="bob", value={"label": "neg"}, skipped=False, lead_time=4.5, created_at=T0),
        ImportedAnnotation(user="cat", value=None, skipped=True, lead_time=4.5, created_at=T0),
    )
    assert record.prediction == ImportedPrediction(value={"label": "pos"}, confidence=0.8, model_version="m1")


def test_by_default_the_first_annotation_becomes_gold_and_no_user_is_needed():
    tasks = [task({"text": "fine"}, annotations=[annotation([], was_cancelled=True), annotation(choices("neg")),
                                                 annotation(choices("pos"))])]

    [record] = read_tasks(tasks, TEXT)

    assert (record.gold, record.annotations, record.prediction) == ({"label": "neg"}, (), None)


def test_the_ground_truth_annotation_is_the_gold():
    tasks = [task({"text": "fine"},
                  annotations=[annotation(choices("neg")), annotation(choices("pos"), ground_truth=True)])]

    assert read_tasks(tasks, TEXT)[0].gold == {"label": "pos"}


def test_as_predictions_the_first_annotation_fills_in_a_missing_prediction():
    tasks = [task({"text": "a"}, annotations=[annotation(choices("neg"))]),
             task({"text": "b"}, annotations=[annotation(choices("neg"))],
                  predictions=[{"model_version": "m", "score": 0.6, "result": choices("pos")}])]

    first, second = read_tasks(tasks, TEXT, labels_as="predictions")

    assert first.prediction == ImportedPrediction(value={"label": "neg"}, confidence=None)
    assert second.prediction == ImportedPrediction(value={"label": "pos"}, confidence=0.6, model_version="m")
    assert first.gold is None


def test_bare_user_ids_go_to_the_annotator_option():
    tasks = [task({"text": "a"}, annotations=[annotation(choices("pos"), completed_by=3)])]

    [record] = read_tasks(tasks, TEXT, labels_as="annotations", annotator="imported")

    assert [a.user for a in record.annotations] == ["imported"]


def test_bare_user_ids_without_annotator_are_named():
    tasks = [task({"text": "a"}), task({"text": "b"}, annotations=[annotation(choices("pos"), completed_by=3)])]

    error = error_of(tasks, TEXT, labels_as="annotations")

    assert (error.record, error.field) == (2, "annotations[0].completed_by")


def test_a_username_in_completed_by_wins_over_the_email():
    tasks = [task({"text": "a"}, annotations=[annotation(choices("pos"), {"username": "ann", "email": "x@y.z"})])]

    assert read_tasks(tasks, TEXT, labels_as="annotations")[0].annotations[0].user == "ann"


def test_two_annotations_by_one_user_are_refused():
    who = {"email": "ann@example.org"}
    tasks = [task({"text": "a"}, annotations=[annotation(choices("pos"), who), annotation(choices("neg"), who)])]

    error = error_of(tasks, TEXT, labels_as="annotations")

    assert (error.record, error.field) == (1, "annotations[1].completed_by")


def test_multi_label_choices():
    tasks = [task({"text": "t"}, annotations=[annotation(choices("a", "c"))])]

    assert read_tasks(tasks, TAGS)[0].gold == {"labels": ["a", "c"]}


@pytest.mark.parametrize(("result", "field", "message"), [
    (choices("pos", "neg"), "annotations[0].result", "chooses 2 labels; a classification project takes one"),
    (choices("meh"), "annotations[0].value.label", "unknown label 'meh'"),
    ([{"type": "labels", "value": {"start": 0, "end": 1, "labels": ["pos"]}}], "annotations[0].result[0].type",
     "'labels' results do not fit a classification project"),
    ([{"type": "textarea", "value": {"text": ["note"]}}], "annotations[0].result", "holds no 'choices' result"),
    ("pos", "annotations[0].result", "must be a list"),
])
def test_results_that_do_not_fit_are_named(result, field, message):
    error = error_of([task({"text": "t"}, annotations=[annotation(result, {"email": "a@b"})])], TEXT,
                     labels_as="annotations")

    assert (error.record, error.field) == (1, field)
    assert message in error.message


def test_a_prediction_score_out_of_range_is_named():
    error = error_of([task({"text": "t"}, predictions=[{"score": 7, "result": choices("pos")}])], TEXT)

    assert (error.record, error.field) == (1, "predictions[0].score")


def test_label_studio_is_recognised_without_the_format_option_and_taken_with_it():
    body = [task({"text": "t"}, annotations=[annotation(choices("pos"))])]

    assert read_tasks(body, TEXT)[0].gold == {"label": "pos"}
    assert read_tasks(body, TEXT, format="label_studio")[0].gold == {"label": "pos"}
    assert read_tasks([{"data": {"text": "t"}}], TEXT, format="label_studio")[0].data == {"text": "t"}


# --- spans --------------------------------------------------------------------------------------

def span(start: int, end: int, text: str, label: str) -> dict:
    return {"from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def test_spans_annotations_and_prediction():
    text = "Ada Lovelace lived in London."
    tasks = [task({"text": text}, id=5,
                  annotations=[annotation([span(22, 28, "London", "LOC"), span(0, 12, "Ada Lovelace", "PER"),
                                           {"type": "relation", "from_id": "a", "to_id": "b"}],
                                          {"email": "ann@x.org"})],
                  predictions=[{"model_version": "ner-2", "score": 0.55, "result": [span(0, 3, "Ada", "PER")]}])]

    [record] = read_tasks(tasks, SPANS, labels_as="annotations")

    assert record.annotations[0].value == {"spans": [{"start": 0, "end": 12, "label": "PER"},
                                                     {"start": 22, "end": 28, "label": "LOC"}]}
    assert record.prediction == ImportedPrediction(value={"spans": [{"start": 0, "end": 3, "label": "PER"}]},
                                                   confidence=0.55, model_version="ner-2")


def test_span_offsets_counted_in_utf16_are_converted():
    text = "\U0001F600 Ada"  # the emoji is two UTF-16 code units, one Python character
    tasks = [task({"text": text}, annotations=[annotation([span(3, 6, "Ada", "PER")])])]

    assert read_tasks(tasks, SPANS)[0].gold == {"spans": [{"start": 2, "end": 5, "label": "PER"}]}


def test_span_past_the_text_is_named():
    tasks = [task({"text": "Ada"}, annotations=[annotation([span(0, 9, "Ada", "PER")])])]

    assert error_of(tasks, SPANS).field == "annotations[0].value.spans[0].end"


# --- boxes --------------------------------------------------------------------------------------

def rect(x, y, w, h, label, width=640, height=480, **value) -> dict:
    return {"from_name": "box", "to_name": "image", "type": "rectanglelabels", "original_width": width,
            "original_height": height, "value": {"x": x, "y": y, "width": w, "height": h,
                                                 "rectanglelabels": [label]} | value}


def test_box_percentages_become_pixels():
    tasks = [task({"image": "/data/upload/1/street.jpg"},
                  annotations=[annotation([rect(10, 25, 50, 12.5, "car"), rect(-0.001, 0, 5, 5, "bike")],
                                          {"email": "ann@x.org"})],
                  predictions=[{"model_version": "det", "score": 0.9, "result": [rect(0, 0, 100, 100, "car")]}])]

    [record] = read_tasks(tasks, BOXES, labels_as="annotations")

    assert record.data == {"image": "/data/upload/1/street.jpg"}
    assert record.annotations[0].value == {"boxes": [{"x": 64.0, "y": 120.0, "w": 320.0, "h": 60.0, "label": "car"},
                                                     {"x": 0.0, "y": 0.0, "w": 32.0, "h": 24.0, "label": "bike"}]}
    assert record.prediction.value == {"boxes": [{"x": 0.0, "y": 0.0, "w": 640.0, "h": 480.0, "label": "car"}]}


@pytest.mark.parametrize(("result", "field"), [
    (rect(1, 1, 5, 5, "car", width=None), "annotations[0].result[0].original_width"),
    (rect(1, 1, 5, 5, "car", rotation=30), "annotations[0].result[0].value.rotation"),
    (rect(1, 1, "5", 5, "car"), "annotations[0].result[0].value.width"),
    (rect(1, 1, 0, 5, "car"), "annotations[0].value.boxes[0].w"),
    (rect(1, 1, 5, 5, "truck"), "annotations[0].value.boxes[0].label"),
])
def test_boxes_that_cannot_be_placed_are_named(result, field):
    assert error_of([task({"image": "x.png"}, annotations=[annotation([result])])], BOXES).field == field


# --- pairwise -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("selected", "choice"), [("left", "a"), ("right", "b"), ("none", "tie")])
def test_pairwise_selection(selected, choice):
    tasks = [task({"prompt": "Which is warmer?", "answer1": "x", "answer2": "y"},
                  annotations=[annotation([{"type": "pairwise", "value": {"selected": selected}}])])]

    [record] = read_tasks(tasks, PAIRS)

    assert record.data == {"prompt": "Which is warmer?", "answer1": "x", "answer2": "y", "a": "x", "b": "y"}
    assert record.gold == {"choice": choice}


# --- our own Label Studio export ----------------------------------------------------------------

def test_our_label_studio_export_keeps_external_ids_and_finals():
    tasks = [
        {"id": 41, "data": {"text": "good"}, "meta": {"external_id": "r-1", "status": "done",
                                                       "final_source": "reviewer"},
         "annotations": [annotation(choices("pos"), {"username": "ann"}),
                         {"result": choices("neg"), "created_at": "2024-05-01T10:00:00.500000+00:00",
                          "was_cancelled": False, "ground_truth": True, "completed_by": {"username": "rita"}}],
         "predictions": [{"model_version": "3", "score": 0.5, "result": choices("pos")}]},
        {"id": 42, "data": {"text": "bad"}, "meta": {"external_id": None, "status": "done", "final_source": "gold"},
         "annotations": [{"result": choices("neg"), "was_cancelled": False, "ground_truth": True}],
         "predictions": []},
    ]

    reviewed, gold = read_tasks(tasks, TEXT, labels_as="annotations")

    assert reviewed.external_id == "r-1"
    assert [a.user for a in reviewed.annotations] == ["ann"]
    assert reviewed.final == ImportedFinal(value={"label": "neg"}, source="reviewer", by="rita", at=T0)
    assert (gold.external_id, gold.gold, gold.final, gold.annotations) == (None, {"label": "neg"}, None, ())


def test_label_studio_in_json_lines():
    body = b"".join(orjson.dumps(t) + b"\n" for t in CLASSIFIED)

    [record] = read(io.BytesIO(body), "tasks.jsonl", TEXT, ReadOptions(format="label_studio"))

    assert (record.unit, record.number, record.gold) == ("line", 1, {"label": "pos"})
