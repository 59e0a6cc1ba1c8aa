"""Export: every item with its final value, annotations, reviews and prediction, as json, jsonl or csv;
filters; errors; streaming in chunks."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from annotations.models import Annotation, ReviewDecision
from dataio.export import jsonl_sql, reading
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


PREDICTION = {"model_version": 2, "value": {"label": "neg"}, "confidence": 0.61, "scores": {"pos": 0.39, "neg": 0.61}}


@pytest.fixture
def exported(project, annotator, annotator2, reviewer):
    """Three items: one decided by a reviewer after two annotations (one skipped), one predicted, one untouched."""
    done, predicted, fresh = make_items(project, 3)
    Item.objects.filter(pk=done.pk).update(
        external_id="d-1", status=ItemStatus.DONE, final_value={"label": "pos"}, final_source=FinalSource.REVIEWER,
        final_by=reviewer, final_at=datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc), annotation_count=1)
    Annotation.objects.create(project=project, item=done, user=annotator, value={"label": "pos"}, lead_time=2.5)
    Annotation.objects.create(project=project, item=done, user=annotator2, value=None, skipped=True)
    ReviewDecision.objects.create(project=project, item=done, reviewer=reviewer, value={"label": "pos"},
                                  note="clearly positive", reason="disagreement")
    Item.objects.filter(pk=predicted.pk).update(status=ItemStatus.QUEUED, prediction=PREDICTION, confidence=0.61)
    return [done.pk, predicted.pk, fresh.pk]


def export(client, project, fmt=None, **params):
    query = {"format": fmt, **params} if fmt else params
    return client.get(f"/api/projects/{project.pk}/export/", query)


def body_of(response) -> str:
    return b"".join(response.streaming_content).decode()


def ids_of(response) -> list[int]:
    return [json.loads(line)["id"] for line in body_of(response).splitlines()]


def check_records(records: list[dict], ids: list[int]) -> None:
    assert [r["id"] for r in records] == ids
    done, predicted, fresh = records
    assert done["external_id"] == "d-1"
    assert done["data"] == {"text": "text 0"}
    assert done["status"] == "done"
    assert done["final"] == {"value": {"label": "pos"}, "source": "reviewer", "at": "2024-05-02T09:30:00+00:00",
                             "by": "rita"}
    assert [(a["user"], a["value"], a["skipped"], a["lead_time"]) for a in done["annotations"]] == [
        ("ann", {"label": "pos"}, False, 2.5), ("bob", None, True, None)]
    assert all(a["time"] for a in done["annotations"])
    assert [(r["reviewer"], r["value"], r["note"], r["reason"]) for r in done["reviews"]] == [
        ("rita", {"label": "pos"}, "clearly positive", "disagreement")]
    assert done["prediction"] is None and done["gold"] is None
    assert predicted["status"] == "queued" and predicted["final"] is None and predicted["annotations"] == []
    assert predicted["prediction"] == PREDICTION
    assert (fresh["external_id"], fresh["status"], fresh["prediction"], fresh["reviews"]) == (None, "new", None, [])
    assert all(r["needed"] == 1 and r["created_at"] for r in records)


def test_json_export_has_every_item(as_user, admin, project, exported):
    r = export(as_user(admin), project, "json")

    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert f'filename="project-{project.pk}.json"' in r["Content-Disposition"]
    check_records(json.loads(body_of(r)), exported)


def test_export_is_streamed(as_user, admin, project, exported):
    r = export(as_user(admin), project, "jsonl")

    assert isinstance(r, StreamingHttpResponse)
    assert r.streaming


def test_json_is_the_default_format(as_user, admin, project, exported):
    r = export(as_user(admin), project)

    assert r.status_code == 200
    check_records(json.loads(body_of(r)), exported)


def test_jsonl_export_has_one_item_a_line(as_user, admin, project, exported):
    r = export(as_user(admin), project, "jsonl")

    assert r.status_code == 200
    assert r["Content-Type"] == "application/x-ndjson"
    lines = body_of(r).splitlines()
    assert len(lines) == 3
    check_records([json.loads(line) for line in lines], exported)


def test_gold_items_carry_their_gold(as_user, admin, project):
    [item] = make_items(project, 1, gold={"label": "neg"}, final_value={"label": "neg"}, final_source="gold",
                        status="done")

    [record] = json.loads(body_of(export(as_user(admin), project, "json")))

    assert record["gold"] == {"label": "neg"}
    assert record["final"]["source"] == "gold" and record["final"]["by"] is None


def test_csv_export_has_one_item_a_row(as_user, admin, project, exported):
    r = export(as_user(admin), project, "csv")

    assert r.status_code == 200
    assert r["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(body_of(r))))
    assert [int(row["id"]) for row in rows] == exported
    done, predicted, fresh = rows
    assert (done["external_id"], done["status"], done["final_source"]) == ("d-1", "done", "reviewer")
    assert (done["final_by"], done["final_at"]) == ("rita", "2024-05-02T09:30:00+00:00")
    assert json.loads(done["data"]) == {"text": "text 0"}
    assert json.loads(done["final_value"]) == {"label": "pos"}
    annotations = json.loads(done["annotations"])
    assert [(a["user"], a["value"], a["lead_time"]) for a in annotations] == [
        ("ann", {"label": "pos"}, 2.5), ("bob", None, None)]
    assert all(a["time"] for a in annotations)
    assert [r["note"] for r in json.loads(done["reviews"])] == ["clearly positive"]
    assert json.loads(predicted["prediction_value"]) == {"label": "neg"}
    assert json.loads(predicted["prediction_scores"]) == {"pos": 0.39, "neg": 0.61}
    assert (float(predicted["prediction_confidence"]), predicted["model_version"]) == (0.61, "2")
    assert (predicted["final_value"], predicted["final_source"], predicted["final_by"]) == ("", "", "")
    assert (fresh["status"], fresh["prediction_value"], json.loads(fresh["annotations"])) == ("new", "", [])


@pytest.mark.parametrize(("fmt", "expected"), [("json", "[]\n"), ("jsonl", "")])
def test_export_of_an_empty_project(as_user, admin, project, fmt, expected):
    r = export(as_user(admin), project, fmt)

    assert r.status_code == 200
    assert body_of(r) == expected


def test_csv_export_of_an_empty_project_has_the_header(as_user, admin, project):
    rows = list(csv.reader(io.StringIO(body_of(export(as_user(admin), project, "csv")))))

    assert rows == [["id", "external_id", "status", "data", "final_value", "final_source", "prediction_value",
                     "prediction_confidence", "model_version", "annotations", "final_at", "final_by", "gold",
                     "prediction_scores", "reviews", "review_reason", "needed", "created_at"]]


def test_export_survives_text_that_needs_quoting(as_user, admin, project):
    [item] = make_items(project, 1)
    tricky = 'He said "hi",\nthen left; naïve ☃ \u2028 \\ end'
    Item.objects.filter(pk=item.pk).update(data={"text": tricky}, external_id='a,"b"')

    rows = list(csv.DictReader(io.StringIO(body_of(export(as_user(admin), project, "csv")))))
    [record] = json.loads(body_of(export(as_user(admin), project, "json")))

    assert json.loads(rows[0]["data"]) == {"text": tricky}
    assert rows[0]["external_id"] == 'a,"b"'
    assert record["data"] == {"text": tricky}


def _export_forty_annotated_items(client, project, annotator) -> CaptureQueriesContext:
    """Export 40 items, each with one annotation, as JSONL; check the records; answer the queries it took."""
    items = make_items(project, 40)
    Annotation.objects.bulk_create([Annotation(project=project, item=i, user=annotator, value={"label": "pos"})
                                    for i in items])
    with CaptureQueriesContext(connection) as queries:
        records = [json.loads(line) for line in body_of(export(client, project, "jsonl")).splitlines()]
    assert [r["id"] for r in records] == [i.pk for i in items]
    assert all([a["user"] for a in r["annotations"]] == ["ann"] for r in records)
    return queries


def test_export_spans_several_chunks_with_a_fixed_number_of_queries(as_user, admin, project, annotator, monkeypatch):
    """The Python path (SQLite's, and CSV's everywhere): a few queries a chunk."""
    monkeypatch.setattr(jsonl_sql, "available", lambda: False)
    monkeypatch.setattr(reading, "CHUNK", 7)
    queries = _export_forty_annotated_items(as_user(admin), project, annotator)

    # Six chunks of items, then the empty read that ends it: items, annotations and reviews each,
    # and the users once; plus the request's own few (auth, project, membership).
    reads = [q["sql"] for q in queries.captured_queries if "tasks_item" in q["sql"] or "annotation" in q["sql"]]
    assert len(queries.captured_queries) < 7 * 3 + 10
    assert sum('FROM "annotations_annotation"' in sql for sql in reads) == 6


def test_postgresql_writes_a_chunk_of_lines_in_one_query(as_user, admin, project, annotator, monkeypatch):
    """PostgreSQL writes the JSON itself (jsonl_sql): one query a chunk, items, annotations and users alike."""
    monkeypatch.setattr(jsonl_sql, "CHUNK", 7)
    queries = _export_forty_annotated_items(as_user(admin), project, annotator)

    # Six chunks, then the empty read that ends it.
    assert sum("annotations_annotation" in q["sql"] for q in queries.captured_queries) == 7
    assert len(queries.captured_queries) < 7 + 10


def test_filters_by_status(as_user, admin, project, exported):
    r = export(as_user(admin), project, "jsonl", status="done")

    assert ids_of(r) == [exported[0]]


@pytest.mark.parametrize("query", ["status=done&status=new", "status=done,new", "status=done,%20new"])
def test_filters_by_several_statuses(as_user, admin, project, exported, query):
    r = as_user(admin).get(f"/api/projects/{project.pk}/export/?format=jsonl&{query}")

    assert ids_of(r) == [exported[0], exported[2]]


def test_refuses_an_unknown_status(as_user, admin, project, exported):
    r = export(as_user(admin), project, "json", status="done,finished")

    assert r.status_code == 400
    assert "finished" in r.json()["status"][0]


def test_filters_by_final_value_source(as_user, admin, project, exported):
    extra = make_items(project, 2)
    Item.objects.filter(pk=extra[0].pk).update(final_value={"label": "neg"}, final_source="model",
                                               status="auto_accepted")
    Item.objects.filter(pk=extra[1].pk).update(final_value={"label": "neg"}, final_source="consensus", status="done")
    client = as_user(admin)

    assert ids_of(export(client, project, "jsonl", source="reviewer")) == [exported[0]]
    assert ids_of(client.get(f"/api/projects/{project.pk}/export/?format=jsonl&source=model&source=consensus")) == [
        extra[0].pk, extra[1].pk]
    assert export(client, project, "jsonl", source="crowd").status_code == 400


def test_only_final_keeps_items_with_a_final_value(as_user, admin, project, exported):
    client = as_user(admin)

    assert ids_of(export(client, project, "jsonl", only_final="true")) == [exported[0]]
    assert ids_of(export(client, project, "jsonl", only_final="false")) == exported
    r = export(client, project, "jsonl", only_final="maybe")
    assert r.status_code == 400 and "only_final" in r.json()


def test_dates_apply_to_creation_unless_only_final_values_are_exported(as_user, admin, project, exported):
    old, recent, fresh = exported
    Item.objects.filter(pk=old).update(created_at=datetime(2024, 1, 10, tzinfo=timezone.utc))
    Item.objects.filter(pk=recent).update(created_at=datetime(2024, 3, 10, 23, 59, tzinfo=timezone.utc))
    Item.objects.filter(pk=fresh).update(created_at=datetime(2024, 6, 1, tzinfo=timezone.utc))
    client = as_user(admin)

    assert ids_of(export(client, project, "jsonl", since="2024-02-01")) == [recent, fresh]
    # A date `until` includes that whole day.
    assert ids_of(export(client, project, "jsonl", since="2024-02-01", until="2024-03-10")) == [recent]
    assert ids_of(export(client, project, "jsonl", until="2024-03-10T12:00:00Z")) == [old]
    assert ids_of(export(client, project, "jsonl", until="2024-01-10T00:00:00+00:00")) == [old]
    # With only final values, the time the final value was set counts (2024-05-02 09:30 UTC).
    assert ids_of(export(client, project, "jsonl", only_final="true", since="2024-05-02")) == [old]
    assert ids_of(export(client, project, "jsonl", only_final="true", since="2024-05-02T09:31:00Z")) == []
    assert ids_of(export(client, project, "jsonl", source="reviewer", until="2024-05-01")) == []


@pytest.mark.parametrize(("params", "param"), [
    ({"since": "yesterday"}, "since"),
    ({"until": "2024-13-01"}, "until"),
    ({"since": "2024-02-30"}, "since"),
    ({"since": "2024-05-02", "until": "2024-05-01"}, "until"),
    ({"until": "9999-12-31"}, "until"),
    ({"only_final": "true", "until": "9999-12-31T23:59:59.999999"}, "until"),
])
def test_bad_dates_are_400_naming_the_parameter(as_user, admin, project, exported, params, param):
    r = export(as_user(admin), project, "jsonl", **params)

    assert r.status_code == 400
    assert list(r.json()) == [param]


def test_export_leaves_out_other_projects(as_user, admin, project, exported):
    other = make_project(admin, name="Other")
    make_items(other, 2)

    assert [rec["id"] for rec in json.loads(body_of(export(as_user(admin), project, "json")))] == exported


def test_ml_engineer_may_export(as_user, ml_engineer, project, exported):
    r = export(as_user(ml_engineer), project, "jsonl")

    assert r.status_code == 200
    assert len(body_of(r).splitlines()) == 3


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_annotators_and_reviewers_cannot_export(as_user, request, project, exported, persona):
    r = export(as_user(request.getfixturevalue(persona)), project, "json")

    assert r.status_code == 403
    assert "may not export" in r.json()["detail"]


def test_outsider_cannot_export(as_user, project, outsider, exported):
    assert export(as_user(outsider), project, "json").status_code == 404


def test_export_of_unknown_project_is_404(as_user, admin):
    assert as_user(admin).get("/api/projects/999999/export/").status_code == 404


def test_unknown_format_is_400_listing_the_formats(as_user, admin, project, exported):
    r = export(as_user(admin), project, "xlsx")

    assert r.status_code == 400
    message = r.json()["format"][0]
    assert "xlsx" in message
    assert all(name in message for name in ("json", "jsonl", "csv", "coco", "conll", "preference", "label_studio"))


@pytest.mark.parametrize(("fmt", "task_type"), [("coco", "boxes"), ("conll", "spans"), ("preference", "pairwise"),
                                                  ("pairs", "ranking")])
def test_a_format_for_another_task_type_is_400(as_user, admin, project, fmt, task_type):
    r = export(as_user(admin), project, fmt)

    assert r.status_code == 400
    message = r.json()["format"][0]
    assert fmt in message and task_type in message and "classification" in message


def test_the_schema_documents_formats_and_filters(as_user, admin):
    schema = as_user(admin).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    parameters = {p["name"]: p for p in schema["paths"]["/api/projects/{id}/export/"]["get"]["parameters"]}
    assert set(parameters["format"]["schema"]["enum"]) == {
        "json", "jsonl", "csv", "parquet", "coco", "conll", "preference", "pairs", "label_studio"}
    assert {"status", "source", "since", "until", "only_final", "ties"} <= set(parameters)
    assert parameters["status"]["schema"]["type"] == "array"
    assert "done" in parameters["status"]["schema"]["items"]["enum"]
    assert "reviewer" in parameters["source"]["schema"]["items"]["enum"]
    assert parameters["only_final"]["schema"]["type"] == "boolean"


def test_a_time_without_offset_is_utc(as_user, admin, project, exported):
    Item.objects.filter(pk=exported[0]).update(created_at=datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc))
    Item.objects.filter(pk__in=exported[1:]).update(created_at=datetime(2024, 1, 10, 12, 0, tzinfo=timezone.utc)
                                                    + timedelta(days=30))

    r = export(as_user(admin), project, "jsonl", until="2024-01-10T12:00:00")

    assert ids_of(r) == [exported[0]]
