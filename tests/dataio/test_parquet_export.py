"""The Parquet export: typed columns read back with pyarrow and Hugging Face datasets, streamed in row
groups, and imported back whole into a new project."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tasks.models import Project
from tests.conftest import make_project
from tests.dataio.export_helpers import AT, add_items, body_of, every_kind_of_item, export, final

pytestmark = pytest.mark.django_db



def parquet_of(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    return b"".join(response.streaming_content)


def table_of(client, project, **params) -> pa.Table:
    return pq.read_table(io.BytesIO(parquet_of(export(client, project, "parquet", **params))))


@pytest.fixture
def original(admin, annotator, annotator2, reviewer):
    return every_kind_of_item(admin, annotator, annotator2, reviewer)


def records(client, project: Project) -> list[dict]:
    return [json.loads(line) for line in body_of(export(client, project, "jsonl")).splitlines()]


def round_trip(client, project: Project) -> tuple[list[dict], list[dict]]:
    copy = make_project(project.created_by, list(project.members.exclude(pk=project.created_by_id)), name="Copy",
                        task_type=project.task_type, labels=project.labels, overlap=project.overlap)
    body = parquet_of(export(client, project, "parquet"))
    r = client.post(f"/api/projects/{copy.pk}/import/", {"file": SimpleUploadedFile("export.parquet", body)},
                    format="multipart")
    assert r.status_code == 201, r.content
    return records(client, project), records(client, copy)


KEYS = ("external_id", "data", "gold", "final", "annotations", "prediction", "status", "needed")


def test_columns_and_types(as_user, admin, original, reviewer, annotator):
    table = table_of(as_user(admin), original)

    assert table.column_names == ["id", "external_id", "status", "data", "final_value", "final_source", "final_at",
                                  "final_by", "gold", "annotations", "reviews", "prediction", "review_reason",
                                  "needed", "created_at"]
    schema = table.schema
    assert schema.field("data").type == pa.struct([("text", pa.string()), ("source", pa.string())])
    assert schema.field("final_value").type == pa.struct([("label", pa.string())])
    assert schema.field("final_at").type == pa.timestamp("us", tz="UTC")
    meta = json.loads(schema.metadata[b"hitl"])
    assert meta["format"] == "hitl-records" and meta["json_columns"] == ["prediction.scores"]
    first = table.to_pylist()[0]
    assert first["data"] == {"text": "fine", "source": "web"}
    assert (first["final_value"], first["final_source"], first["final_by"]) == ({"label": "pos"}, "reviewer",
                                                                                 reviewer.username)
    assert first["final_at"] == AT
    assert first["annotations"][0]["user"] == annotator.username
    assert first["annotations"][0]["value"] == {"label": "neg"} and first["annotations"][1]["skipped"] is True
    assert first["prediction"]["model_version"] == "4"
    assert json.loads(first["prediction"]["scores"]) == {"pos": 0.1, "neg": 0.9}
    assert table.to_pylist()[3]["final_value"] is None


def test_export_then_import_loses_nothing(as_user, admin, original):
    before, after = round_trip(as_user(admin), original)

    for key in KEYS:
        assert [r[key] for r in after] == [r[key] for r in before], key


@pytest.mark.parametrize(("task_type", "labels", "data", "value"), [
    ("spans", ["PER"], {"text": "By Tom Hanks"}, {"spans": [{"start": 3, "end": 12, "label": "PER"}]}),
    ("boxes", ["car"], {"image": "https://example.org/1.jpg", "width": 640, "height": 480},
     {"boxes": [{"x": 10, "y": 20, "w": 30.5, "h": 40, "label": "car"}]}),
    ("pairwise", [], {"prompt": "p", "a": "x", "b": "y"}, {"choice": "a"}),
    ("multi_label", ["a", "b"], {"text": "t"}, {"labels": ["a", "b"]}),
    ("ranking", [], {"prompt": "p", "responses": [{"id": "r1", "text": "x"}, {"id": "r2", "text": "y"}]},
     {"ranking": [["r2"], ["r1"]]}),
])
def test_every_task_type_round_trips(as_user, admin, annotator, task_type, labels, data, value):
    project = make_project(admin, [annotator], name="T", task_type=task_type, labels=labels)
    add_items(project, {"data": data, "external_id": "x", **final(value)}, {"data": data, "external_id": "y"})
    before, after = round_trip(as_user(admin), project)

    for key in KEYS:
        assert [r[key] for r in after] == [r[key] for r in before], key
    assert table_of(as_user(admin), project).to_pylist()[0]["final_value"] == value


def test_items_that_disagree_on_a_fields_type_get_a_json_text_column(as_user, admin, project):
    add_items(project, {"data": {"text": "a", "meta": "tag"}}, {"data": {"text": "b", "meta": 5}},
              {"data": {"text": "c", "meta": {"nested": [1, 2]}}, **final({"label": "pos"})})
    table = table_of(as_user(admin), project)

    assert table.schema.field("data").type == pa.string()
    assert json.loads(table.schema.metadata[b"hitl"])["json_columns"] == ["data", "prediction.scores"]
    assert json.loads(table.column("data")[1].as_py()) == {"text": "b", "meta": 5}
    before, after = round_trip(as_user(admin), project)
    assert [r["data"] for r in after] == [r["data"] for r in before]


def test_missing_keys_are_null_in_the_struct_and_absent_after_import(as_user, admin, project):
    add_items(project, {"data": {"text": "a", "source": "web"}}, {"data": {"text": "b"}})
    table = table_of(as_user(admin), project)

    assert table.column("data").to_pylist() == [{"text": "a", "source": "web"}, {"text": "b", "source": None}]
    before, after = round_trip(as_user(admin), project)
    assert [r["data"] for r in after] == [{"text": "a", "source": "web"}, {"text": "b"}]


def test_streamed_in_row_groups(as_user, admin, project, monkeypatch):
    from dataio.export import parquet, reading

    monkeypatch.setattr(parquet, "ROW_GROUP", 40)
    monkeypatch.setattr(reading, "CHUNK", 25)
    add_items(project, *({"data": {"text": f"t{i}"}, **final({"label": "pos"})} for i in range(130)))
    response = export(as_user(admin), project, "parquet")
    chunks = list(response.streaming_content)

    assert len(chunks) >= 4  # a row group as soon as it is full, then the footer
    file = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert file.metadata.num_rows == 130 and file.metadata.num_row_groups == 4
    assert file.read().column("id").to_pylist() == sorted(file.read().column("id").to_pylist())


def test_filters_apply(as_user, admin, project):
    add_items(project, {"data": {"text": "a"}, **final({"label": "pos"})}, {"data": {"text": "b"}})
    table = table_of(as_user(admin), project, only_final="true")

    assert table.column("data").to_pylist() == [{"text": "a"}]


def test_an_empty_export_is_a_valid_file(as_user, admin, project):
    table = table_of(as_user(admin), project)

    assert table.num_rows == 0 and "data" in table.column_names


def test_hugging_face_datasets_loads_it(as_user, admin, original, tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "export.parquet"
    path.write_bytes(parquet_of(export(as_user(admin), original, "parquet")))
    ds = datasets.Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))

    assert ds.num_rows == 4
    assert ds[0]["data"] == {"text": "fine", "source": "web"} and ds[0]["final_value"] == {"label": "pos"}
    assert ds.features["data"]["text"].dtype == "string"
    assert ds[0]["annotations"][0]["value"] == {"label": "neg"}


def test_the_export_page_offers_parquet(client, admin, project):
    client.force_login(admin)
    r = client.get(f"/projects/{project.pk}/export/")

    assert r.status_code == 200
    assert b'value="parquet"' in r.content


def test_export_items_command_writes_parquet(admin, original, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "out.parquet"
    call_command("export_items", str(original.pk), "--format", "parquet", "--output", str(out), "--no-progress")
    assert pq.read_table(out).num_rows == 4
