"""Importing Parquet files: flat rows (the columns are the data) and full records (a `data` column),
label columns, errors naming their row, the preview, sniffing by magic bytes and large files as jobs."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from annotations.models import Annotation
from dataio.readers import ReadOptions, RecordError, read
from dataio.records import Schema
from tasks.models import Item, Job
from tests.conftest import make_project, wait_for_job

pytestmark = pytest.mark.django_db

TEXT = Schema(task_type="classification", labels=["pos", "neg"])
AT = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)


def parquet(rows: list[dict] | pa.Table, **kwargs) -> bytes:
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    out = io.BytesIO()
    pq.write_table(table, out, **kwargs)
    return out.getvalue()


def upload(client, project, body: bytes, name: str = "items.parquet", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/projects/{project.pk}/import/?{query}", {"file": SimpleUploadedFile(name, body)},
                       format="multipart")


def items(project) -> list[Item]:
    return list(Item.objects.filter(project=project).order_by("id"))


def test_flat_rows_are_the_data(as_user, admin, project):
    body = parquet([{"text": "good", "external_id": "a", "source": "web", "stars": 5},
                    {"text": "bad", "external_id": "b", "source": None, "stars": 1}])
    r = upload(as_user(admin), project, body)

    assert r.status_code == 201, r.content
    assert r.json()["imported"] == 2
    got = items(project)
    assert [(i.external_id, i.data) for i in got] == [
        ("a", {"text": "good", "source": "web", "stars": 5}),
        ("b", {"text": "bad", "stars": 1}),  # a null cell leaves its key out
    ]


def test_text_column_columns_and_a_label_column_as_gold(as_user, admin, project):
    body = parquet([{"review": "good", "id": 7, "label": "pos", "noise": "x"},
                    {"review": "bad", "id": 8, "label": "neg", "noise": "y"},
                    {"review": "meh", "id": 9, "label": None, "noise": "z"}])
    r = upload(as_user(admin), project, body, text_column="review", columns="review,id", label_column="label",
               labels_as="gold")

    assert r.status_code == 201, r.content
    got = items(project)
    assert [i.data for i in got] == [{"text": "good", "id": 7}, {"text": "bad", "id": 8}, {"text": "meh", "id": 9}]
    assert [i.gold for i in got] == [{"label": "pos"}, {"label": "neg"}, None]


def test_a_labels_dataset_the_sdk_saved_brings_back_only_its_data_columns(as_user, admin, project):
    table = pa.Table.from_pylist([{"id": 41, "external_id": "a", "text": "good", "movie": "m1", "label": "pos",
                                   "source": "reviewer"}])
    metadata = {b"hitl_sdk": orjson.dumps({"kind": "labels", "data_columns": ["text", "movie"]})}
    body = parquet(table.replace_schema_metadata(metadata))

    r = upload(as_user(admin), project, body, label_column="label", labels_as="gold")

    assert r.status_code == 201, r.content
    [item] = items(project)
    assert (item.external_id, item.data, item.gold) == ("a", {"text": "good", "movie": "m1"}, {"label": "pos"})


def test_labels_as_predictions_and_annotations(as_user, admin, annotator, project):
    body = parquet([{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}])
    r = upload(as_user(admin), project, body, label_column="label", labels_as="predictions")
    assert r.status_code == 201, r.content
    assert [i.prediction["value"] for i in items(project)] == [{"label": "pos"}, {"label": "neg"}]

    other = make_project(admin, [annotator], name="Other")
    r = upload(as_user(admin), other, body, label_column="label", labels_as="annotations",
               annotator=annotator.username)
    assert r.status_code == 201, r.content
    assert r.json()["annotations"] == 2
    assert sorted(a.value["label"] for a in Annotation.objects.filter(item__project=other)) == ["neg", "pos"]


def test_multi_label_list_column(as_user, admin):
    project = make_project(admin, name="Tags", task_type="multi_label", labels=["a", "b", "c"])
    body = parquet([{"text": "t", "tags": ["a", "c"]}, {"text": "u", "tags": []}])
    r = upload(as_user(admin), project, body, label_column="tags")

    assert r.status_code == 201, r.content
    assert [i.gold for i in items(project)] == [{"labels": ["a", "c"]}, {"labels": []}]


def test_full_records_with_struct_columns_and_null_filled_keys(as_user, admin, annotator, reviewer, project):
    rows = [
        {"external_id": "r1", "data": {"text": "fine", "source": "web"},
         "final": {"value": {"label": "pos"}, "source": "reviewer", "by": reviewer.username, "at": AT.isoformat()},
         "gold": None,
         "annotations": [{"user": annotator.username, "value": {"label": "neg"}, "skipped": False, "lead_time": 4.5,
                          "time": AT.isoformat()}],
         "prediction": {"model_version": 4, "value": {"label": "neg"}, "confidence": 0.9,
                        "scores": {"pos": 0.1, "neg": 0.9}}},
        # Arrow gives this row "source": null in its data and nulls for the final and prediction structs.
        {"external_id": "r2", "data": {"text": "gold"}, "final": None, "gold": {"label": "neg"}, "annotations": [],
         "prediction": None},
    ]
    r = upload(as_user(admin), project, parquet(rows))

    assert r.status_code == 201, r.content
    first, second = items(project)
    assert first.data == {"text": "fine", "source": "web"} and second.data == {"text": "gold"}
    assert (first.final_value, first.final_source, first.final_by) == ({"label": "pos"}, "reviewer", reviewer)
    assert first.prediction["value"] == {"label": "neg"} and first.prediction["scores"] == {"pos": 0.1, "neg": 0.9}
    assert Annotation.objects.get(item=first).lead_time == 4.5
    assert second.gold == {"label": "neg"} and second.prediction is None


def test_full_records_with_json_text_cells(as_user, admin, project):
    rows = [{"data": orjson.dumps({"text": "a"}).decode(), "final_value": '{"label": "pos"}',
             "final_source": "consensus", "annotations": "[]", "prediction": None}]
    r = upload(as_user(admin), project, parquet(rows))

    assert r.status_code == 201, r.content
    [item] = items(project)
    assert (item.data, item.final_value, item.final_source) == ({"text": "a"}, {"label": "pos"}, "consensus")


def test_a_bad_row_names_its_row_and_imports_nothing(as_user, admin, project):
    rows = [{"text": f"t{i}", "label": "pos"} for i in range(1, 3001)]
    rows[2499]["label"] = "maybe"
    r = upload(as_user(admin), project, parquet(rows, row_group_size=1000), label_column="label")

    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert (error["row"], error["field"]) == (2500, "label")
    assert "Nothing was imported" in r.json()["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_a_bad_data_cell_names_the_row_and_field(as_user, admin, project):
    r = upload(as_user(admin), project, parquet([{"text": "ok"}, {"text": "a\x00b"}]))

    assert r.status_code == 400
    assert r.json()["errors"][0] == {"row": 2, "field": "data.text", "message": r.json()["errors"][0]["message"]}
    assert not Item.objects.filter(project=project).exists()


def test_a_missing_column_and_a_file_that_is_not_parquet(as_user, admin, project):
    r = upload(as_user(admin), project, parquet([{"body": "x"}]))
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "text" and "columns: body" in r.json()["errors"][0]["message"]

    r = upload(as_user(admin), project, b"PAR1 not really")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "file"
    assert not Item.objects.filter(project=project).exists()


def test_parquet_is_recognised_by_its_magic_bytes(as_user, admin, project):
    r = upload(as_user(admin), project, parquet([{"text": "sniffed"}]), name="export.bin")

    assert r.status_code == 201, r.content
    assert [i.data for i in items(project)] == [{"text": "sniffed"}]


def test_reader_streams_batches(monkeypatch):
    import dataio.readers.parquet as module

    monkeypatch.setattr(module, "BATCH_ROWS", 10)
    body = parquet([{"text": f"t{i}"} for i in range(35)], row_group_size=7)
    records = read(io.BytesIO(body), "x.parquet", TEXT, ReadOptions())
    assert [(r.unit, r.number) for r in records][-1] == ("row", 35)
    with pytest.raises(RecordError) as err:
        list(read(io.BytesIO(body), "x.parquet", TEXT, ReadOptions(columns=["nope"])))
    assert err.value.field == "nope"


def test_preview_shows_the_first_rows(as_user, admin, project):
    body = parquet([{"text": f"t{i}", "label": "pos"} for i in range(12)])
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/preview/?label_column=label",
                            {"file": SimpleUploadedFile("items.parquet", body)}, format="multipart")

    assert r.status_code == 200, r.content
    p = r.json()
    assert (p["format"], p["more"], p["error"]) == ("parquet", True, None)
    assert len(p["records"]) == 10
    assert p["records"][0]["unit"] == "row" and p["records"][0]["gold"] == {"label": "pos"}
    assert not Item.objects.filter(project=project).exists()


def test_preview_names_a_bad_row(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/preview/",
                            {"file": SimpleUploadedFile("items.parquet", parquet([{"text": "a"}, {"text": "a\x00b"}]))},
                            format="multipart")

    assert r.json()["error"]["unit"] == "row" and r.json()["error"]["number"] == 2


def test_import_items_command_reads_parquet(admin, project, tmp_path):
    path = tmp_path / "items.parquet"
    path.write_bytes(parquet([{"text": "one", "label": "pos"}, {"text": "two", "label": "neg"}]))
    call_command("import_items", str(project.pk), str(path), "--label-column", "label", "--no-progress")
    assert [i.gold for i in items(project)] == [{"label": "pos"}, {"label": "neg"}]

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(parquet([{"text": "x", "label": "nope"}]))
    with pytest.raises(CommandError, match="row 1"):
        call_command("import_items", str(project.pk), str(bad), "--label-column", "label", "--no-progress")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_large_file_streams_as_a_job(worker, settings, as_user, admin, project):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000
    n = 50_000
    table = pa.table({"text": [f"review number {i}, long enough" for i in range(n)],
                      "external_id": [f"r{i}" for i in range(n)],
                      "label": ["pos" if i % 2 else "neg" for i in range(n)]})
    r = upload(as_user(admin), project, parquet(table, row_group_size=5000), label_column="label")

    assert r.status_code == 202, r.content
    job = wait_for_job(r.json()["job"], timeout=180)
    assert job.state == "succeeded", job.error
    assert job.result["imported"] == n
    assert Item.objects.filter(project=project).count() == n
    assert Item.objects.get(project=project, external_id="r3").gold == {"label": "pos"}
    assert Job.objects.get(pk=job.pk).kind == "import"
