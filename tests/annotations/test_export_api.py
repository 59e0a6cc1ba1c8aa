"""Export: every item with its final value, annotations and prediction, as json, jsonl or csv."""
from __future__ import annotations

import csv
import io
import json

import pytest

from annotations.models import Annotation
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


PREDICTION = {"model_version": 2, "value": {"label": "neg"}, "confidence": 0.61, "scores": [0.39, 0.61]}


@pytest.fixture
def exported(project, annotator, annotator2):
    """Three items: one done by consensus with two annotations, one predicted, one untouched."""
    done, predicted, fresh = make_items(project, 3)
    Item.objects.filter(pk=done.pk).update(external_id="d-1", status=ItemStatus.DONE, final_value={"label": "pos"},
                                           final_source=FinalSource.CONSENSUS, annotation_count=2)
    Annotation.objects.create(project=project, item=done, user=annotator, value={"label": "pos"}, lead_time=2.5)
    Annotation.objects.create(project=project, item=done, user=annotator2, value={"label": "pos"}, lead_time=None)
    Item.objects.filter(pk=predicted.pk).update(status=ItemStatus.QUEUED, prediction=PREDICTION, confidence=0.61)
    return [done.pk, predicted.pk, fresh.pk]


def export(client, project, fmt=None, **params):
    query = {"format": fmt, **params} if fmt else params
    return client.get(f"/api/projects/{project.pk}/export/", query)


def body_of(response) -> str:
    return b"".join(response.streaming_content).decode()


def check_records(records: list[dict], ids: list[int]) -> None:
    assert [r["id"] for r in records] == ids
    done, predicted, fresh = records
    assert done["external_id"] == "d-1"
    assert done["data"] == {"text": "text 0"}
    assert done["status"] == "done"
    assert done["final"]["value"] == {"label": "pos"} and done["final"]["source"] == "consensus"
    assert [(a["user"], a["value"], a["lead_time"]) for a in done["annotations"]] == [
        ("ann", {"label": "pos"}, 2.5), ("bob", {"label": "pos"}, None)]
    assert all(a["time"] for a in done["annotations"])
    assert done["prediction"] is None
    assert predicted["status"] == "queued" and predicted["final"] is None and predicted["annotations"] == []
    assert predicted["prediction"] == {"model_version": 2, "value": {"label": "neg"}, "confidence": 0.61}
    assert (fresh["external_id"], fresh["status"], fresh["prediction"]) == (None, "new", None)


def test_json_export_has_every_item(as_user, admin, project, exported):
    r = export(as_user(admin), project, "json")

    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert f'filename="project-{project.pk}.json"' in r["Content-Disposition"]
    check_records(json.loads(body_of(r)), exported)


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


def test_csv_export_has_one_item_a_row(as_user, admin, project, exported):
    r = export(as_user(admin), project, "csv")

    assert r.status_code == 200
    assert r["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(body_of(r))))
    assert [int(row["id"]) for row in rows] == exported
    done, predicted, fresh = rows
    assert (done["external_id"], done["status"], done["final_source"]) == ("d-1", "done", "consensus")
    assert json.loads(done["data"]) == {"text": "text 0"}
    assert json.loads(done["final_value"]) == {"label": "pos"}
    annotations = json.loads(done["annotations"])
    assert [(a["user"], a["value"], a["lead_time"]) for a in annotations] == [
        ("ann", {"label": "pos"}, 2.5), ("bob", {"label": "pos"}, None)]
    assert all(a["time"] for a in annotations)
    assert json.loads(predicted["prediction_value"]) == {"label": "neg"}
    assert (float(predicted["prediction_confidence"]), predicted["model_version"]) == (0.61, "2")
    assert (predicted["final_value"], predicted["final_source"]) == ("", "")
    assert (fresh["status"], fresh["prediction_value"], json.loads(fresh["annotations"])) == ("new", "", [])


@pytest.mark.parametrize(("fmt", "expected"), [("json", "[]\n"), ("jsonl", "")])
def test_export_of_an_empty_project(as_user, admin, project, fmt, expected):
    r = export(as_user(admin), project, fmt)

    assert r.status_code == 200
    assert body_of(r) == expected


def test_csv_export_of_an_empty_project_has_the_header(as_user, admin, project):
    rows = list(csv.reader(io.StringIO(body_of(export(as_user(admin), project, "csv")))))

    assert rows == [["id", "external_id", "status", "data", "final_value", "final_source", "prediction_value",
                     "prediction_confidence", "model_version", "annotations"]]


def test_export_survives_text_that_needs_quoting(as_user, admin, project):
    [item] = make_items(project, 1)
    tricky = 'He said "hi",\nthen left; naïve ☃'
    Item.objects.filter(pk=item.pk).update(data={"text": tricky}, external_id='a,"b"')

    rows = list(csv.DictReader(io.StringIO(body_of(export(as_user(admin), project, "csv")))))
    [record] = json.loads(body_of(export(as_user(admin), project, "json")))

    assert json.loads(rows[0]["data"]) == {"text": tricky}
    assert rows[0]["external_id"] == 'a,"b"'
    assert record["data"] == {"text": tricky}


def test_export_spans_several_chunks(as_user, admin, project):
    items = make_items(project, 1203)

    records = [json.loads(line) for line in body_of(export(as_user(admin), project, "jsonl")).splitlines()]

    assert [r["id"] for r in records] == [i.pk for i in items]


def test_export_filters_by_status(as_user, admin, project, exported):
    r = export(as_user(admin), project, "json", status="done")

    assert [rec["id"] for rec in json.loads(body_of(r))] == [exported[0]]


def test_export_refuses_an_unknown_status(as_user, admin, project, exported):
    r = export(as_user(admin), project, "json", status="finished")

    assert r.status_code == 400
    assert "status" in r.json()


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


def test_unknown_format_is_400(as_user, admin, project, exported):
    r = export(as_user(admin), project, "xlsx")

    assert r.status_code == 400
    assert "format" in r.json()
