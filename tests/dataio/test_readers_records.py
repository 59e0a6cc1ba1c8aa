"""Records with annotations, a prediction and a final value (dataio/records.py), and our own export
read back. Pure: no database.

The export records are written here by hand in the shape dataio/export/records.py documents,
so these tests say what the importer reads, whatever the exporter's internals are.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import orjson
import pytest

from dataio.readers import read
from dataio.records import (
    ImportedAnnotation,
    ImportedFinal,
    ImportedPrediction,
    Record,
    RecordError,
    Schema,
    make_record,
    parse_record,
)

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
SPANS = Schema(task_type="spans", labels=["PER", "LOC"])
T0 = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=timezone.utc)


def error_of(fn, *args, **kwargs) -> RecordError:
    with pytest.raises(RecordError) as info:
        result = fn(*args, **kwargs)
        if not isinstance(result, Record):
            list(result)
    return info.value


def test_old_records_keep_their_shape():
    record = parse_record({"text": "hi"}, 1, TEXT)

    assert (record.annotations, record.prediction, record.final) == ((), None, None)
    assert record == Record(number=1, data={"text": "hi"}, external_id=None, gold=None)


def test_wrapped_record_brings_annotations_prediction_and_final():
    raw = {
        "data": {"text": "good"}, "external_id": "e1",
        "annotations": [
            {"user": "ann", "value": {"label": "pos"}, "skipped": False, "lead_time": 3.5,
             "time": "2025-03-01T12:30:05.123456+00:00"},
            {"user": "bob", "value": None, "skipped": True, "lead_time": None, "created_at": "2025-03-01T12:30:05"},
        ],
        "prediction": {"model_version": "v3", "value": {"label": "neg"}, "confidence": 0.75},
        "final": {"value": {"label": "pos"}, "source": "consensus", "at": "2025-03-01T12:30:05.123456Z"},
    }

    record = parse_record(raw, 7, TEXT)

    assert record.annotations == (
        ImportedAnnotation(user="ann", value={"label": "pos"}, skipped=False, lead_time=3.5, created_at=T0),
        ImportedAnnotation(user="bob", value=None, skipped=True, lead_time=None,
                           created_at=datetime(2025, 3, 1, 12, 30, 5, tzinfo=timezone.utc)),
    )
    assert record.prediction == ImportedPrediction(value={"label": "neg"}, confidence=0.75, model_version="v3")
    assert record.final == ImportedFinal(value={"label": "pos"}, source="consensus", by=None, at=T0)
    assert (record.gold, record.external_id) == (None, "e1")


def test_final_from_gold_becomes_the_gold():
    record = parse_record({"data": {"text": "t"}, "final": {"value": {"label": "neg"}, "source": "gold"}}, 1, TEXT)

    assert (record.gold, record.final) == ({"label": "neg"}, None)


def test_model_versions_stay_as_the_file_gives_them():
    def version(v):
        return parse_record({"data": {"text": "t"}, "prediction": {"value": {"label": "pos"}, "model_version": v}},
                            1, TEXT).prediction.model_version

    assert (version(4), version("v4"), version(""), version(None)) == (4, "v4", None, None)


def test_values_are_normalised_against_the_schema():
    raw = {"data": {"text": "Ada in Rome"},
           "annotations": [{"user": "a", "value": {"spans": [{"start": 7, "end": 11, "label": "LOC"},
                                                             {"start": 0, "end": 3, "label": "PER", "extra": 1}]}}]}

    [annotation] = parse_record(raw, 1, SPANS).annotations

    assert annotation.value == {"spans": [{"start": 0, "end": 3, "label": "PER"},
                                          {"start": 7, "end": 11, "label": "LOC"}]}


@pytest.mark.parametrize(("extra", "field"), [
    ({"annotations": [{"user": "a", "value": {"label": "pos"}}, {"user": "b", "value": {"label": "pos"}},
                      {"user": "c", "value": {"label": "maybe"}}]}, "annotations[2].value.label"),
    ({"annotations": [{"user": "a"}]}, "annotations[0].value"),
    ({"annotations": [{"value": {"label": "pos"}}]}, "annotations[0].user"),
    ({"annotations": [{"user": "", "value": {"label": "pos"}}]}, "annotations[0].user"),
    ({"annotations": [{"user": "a", "value": {"label": "pos"}}, {"user": "a", "value": {"label": "neg"}}]},
     "annotations[1].user"),
    ({"annotations": [{"user": "a", "value": {"label": "pos"}, "skipped": "no"}]}, "annotations[0].skipped"),
    ({"annotations": [{"user": "a", "value": {"label": "pos"}, "lead_time": -1}]}, "annotations[0].lead_time"),
    ({"annotations": [{"user": "a", "value": {"label": "pos"}, "time": "yesterday"}]}, "annotations[0].time"),
    ({"annotations": {"user": "a"}}, "annotations"),
    ({"annotations": ["a"]}, "annotations[0]"),
    ({"prediction": {"value": {"label": "x"}}}, "prediction.value.label"),
    ({"prediction": {"value": None, "confidence": 0.5}}, "prediction.value"),
    ({"prediction": {"value": {"label": "pos"}, "confidence": 1.5}}, "prediction.confidence"),
    ({"prediction": {"value": {"label": "pos"}, "model_version": ["v"]}}, "prediction.model_version"),
    ({"prediction": "pos"}, "prediction"),
    ({"final": {"value": {"label": "pos"}, "source": "oracle"}}, "final.source"),
    ({"final": {"value": {"label": "x"}, "source": "reviewer"}}, "final.value.label"),
    ({"final": {"value": {"label": "pos"}, "source": "reviewer", "at": 5}}, "final.at"),
    ({"final": {"value": {"label": "pos"}, "source": "reviewer"}, "gold": {"label": "pos"}}, "final.source"),
    ({"final": {"value": {"label": "pos"}, "source": "gold"}, "gold": {"label": "neg"}}, "final.value"),
])
def test_bad_parts_are_named_by_record_and_field(extra, field):
    error = error_of(parse_record, {"data": {"text": "t"}} | extra, 4, TEXT, unit="line")

    assert (error.record, error.unit, error.field) == (4, "line", field)


def test_make_record_checks_the_data_too():
    error = error_of(make_record, 3, TEXT, {"txt": "x"}, unit="row")

    assert error.as_dict() == {"row": 3, "field": "data.text", "message": "is required"}


# --- our own export, read back ------------------------------------------------------------------

AT = "2025-03-01T12:30:05.123456+00:00"
PER = {"spans": [{"start": 0, "end": 3, "label": "PER"}]}
LOC = {"spans": [{"start": 7, "end": 11, "label": "LOC"}]}

EXPORT = [
    {"id": 41, "external_id": "x-1", "data": {"text": "Ada in Rome"}, "status": "done",
     "final": {"value": PER, "source": "reviewer", "at": AT, "by": "rita"},
     "gold": None,
     "annotations": [
         {"user": "ann", "value": PER, "skipped": False, "lead_time": 2.25, "time": AT},
         {"user": "bob", "value": None, "skipped": True, "lead_time": None, "time": AT},
     ],
     "reviews": [{"reviewer": "rita", "value": PER, "note": "", "reason": "disagreement", "time": AT}],
     "prediction": {"model_version": "v2", "value": {"spans": []}, "confidence": 0.4, "scores": {"PER": 0.4}},
     "review_reason": "", "needed": 2, "created_at": AT},
    {"id": 42, "external_id": None, "data": {"text": "Ada in Rome"}, "status": "done",
     "final": {"value": LOC, "source": "gold", "at": AT, "by": None}, "gold": LOC,
     "annotations": [], "reviews": [], "prediction": None, "review_reason": "", "needed": 1, "created_at": AT},
    {"id": 43, "external_id": None, "data": {"text": "Ada in Rome"}, "status": "new", "final": None, "gold": None,
     "annotations": [], "reviews": [], "prediction": None, "review_reason": "", "needed": 1, "created_at": AT},
]
CSV_COLUMNS = ["id", "external_id", "status", "data", "final_value", "final_source", "prediction_value",
               "prediction_confidence", "model_version", "annotations", "final_at", "final_by", "gold",
               "prediction_scores", "reviews", "review_reason", "needed", "created_at"]


def export_csv(records: list[dict]) -> bytes:
    def cell(value) -> str:
        return "" if value is None else orjson.dumps(value).decode()

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        final, pred = r["final"] or {}, r["prediction"] or {}
        writer.writerow([r["id"], r["external_id"], r["status"], cell(r["data"]), cell(final.get("value")),
                         final.get("source", ""), cell(pred.get("value")), pred.get("confidence", ""),
                         pred.get("model_version", ""), cell(r["annotations"]), final.get("at") or "",
                         final.get("by") or "", cell(r["gold"]), cell(pred.get("scores")), cell(r["reviews"]),
                         r["review_reason"], r["needed"], r["created_at"]])
    return out.getvalue().encode()


def assert_nothing_lost(first: Record, gold: Record, plain: Record) -> None:
    assert (first.external_id, first.data, first.gold) == ("x-1", {"text": "Ada in Rome"}, None)
    assert first.final == ImportedFinal(value=PER, source="reviewer", by="rita", at=T0)
    assert first.prediction == ImportedPrediction(value={"spans": []}, confidence=0.4, model_version="v2",
                                                  scores={"PER": 0.4})
    assert first.annotations == (
        ImportedAnnotation(user="ann", value=PER, skipped=False, lead_time=2.25, created_at=T0),
        ImportedAnnotation(user="bob", value=None, skipped=True, lead_time=None, created_at=T0),
    )
    assert (gold.external_id, gold.gold, gold.final, gold.annotations, gold.prediction) == (None, LOC, None, (), None)
    assert gold.gold_at == T0
    assert (plain.gold, plain.final, plain.annotations, plain.prediction) == (None, None, (), None)


def test_our_json_export_reads_back_without_loss():
    body = b"[" + b",\n".join(orjson.dumps(r) for r in EXPORT) + b"]\n"

    records = list(read(io.BytesIO(body), "export.json", SPANS))

    assert [(r.number, r.unit) for r in records] == [(1, "record"), (2, "record"), (3, "record")]
    assert_nothing_lost(*records)


def test_our_jsonl_export_reads_back_without_loss():
    body = b"".join(orjson.dumps(r) + b"\n" for r in EXPORT)

    records = list(read(io.BytesIO(body), "export.jsonl", SPANS))

    assert [(r.number, r.unit) for r in records] == [(1, "line"), (2, "line"), (3, "line")]
    assert_nothing_lost(*records)


def test_our_csv_export_reads_back_without_loss():
    records = list(read(io.BytesIO(export_csv(EXPORT)), "export.csv", SPANS))

    assert [(r.number, r.unit) for r in records] == [(2, "row"), (3, "row"), (4, "row")]
    assert_nothing_lost(*records)


def test_a_bad_json_cell_of_the_csv_export_is_named():
    body = export_csv(EXPORT).replace(b'"{""text"":""Ada in Rome""}"', b'"{broken"', 1)

    error = error_of(read, io.BytesIO(body), "export.csv", SPANS)

    assert error.as_dict() == {"row": 2, "field": "data", "message": "must be JSON (as the export writes it)"}


def test_the_exports_ids_and_statuses_are_not_imported():
    record = parse_record(EXPORT[0], 1, SPANS)

    assert "id" not in record.data and "status" not in record.data
    assert record.external_id == "x-1"
