"""Import and export through the SDK: streamed records in, records out, files, pandas."""
from __future__ import annotations

import json

import pytest
from hitl_sdk import ValidationError
from hitl_sdk.projects import flatten_record

from tasks.models import Item, Job


def test_import_records_streams_a_generator_and_export_gives_the_records_back(connect, admin, project):
    client = connect(admin)
    sdk_project = client.project(project.id)

    def records():
        for i in range(25):
            yield {"data": {"text": f"review {i}"}, "external_id": f"r{i}",
                   **({"gold": {"label": "pos"}} if i < 3 else {})}

    result = sdk_project.import_records(records())
    assert result["imported"] == 25
    assert Item.objects.filter(project=project).count() == 25

    exported = list(sdk_project.export())
    assert [r["external_id"] for r in exported] == [f"r{i}" for i in range(25)]
    assert exported[0]["data"] == {"text": "review 0"}
    assert exported[0]["final"]["value"] == {"label": "pos"} and exported[0]["final"]["source"] == "gold"
    # The same as the server's own JSON export, record for record.
    assert list(sdk_project.export(format="json")) == exported
    only_final = list(sdk_project.export(only_final=True))
    assert [r["external_id"] for r in only_final] == ["r0", "r1", "r2"]
    assert len(list(sdk_project.export(status=["done", "queued"]))) == len(
        [r for r in exported if r["status"] in ("done", "queued")])
    rows = list(sdk_project.export(format="csv"))
    assert len(rows) == 25 and rows[0]["external_id"] == "r0"


def test_a_bad_record_names_its_line_and_imports_nothing(connect, admin, project):
    sdk_project = connect(admin).project(project.id)
    records = [{"data": {"text": "fine"}}, {"data": {"text": "also fine"}},
               {"data": {"text": "x"}, "gold": {"label": "nope"}}]
    with pytest.raises(ValidationError) as caught:
        sdk_project.import_records(records)
    error = caught.value
    assert error.status_code == 400
    assert error.line == 3
    assert "Nothing was imported" in error.detail
    assert "line" in str(error) and "3" in str(error)
    assert error.body["errors"][0]["line"] == 3
    assert Item.objects.filter(project=project).count() == 0


def test_import_options_on_duplicate_and_json_body(connect, admin, project):
    sdk_project = connect(admin).project(project.id)
    assert sdk_project.import_json([{"data": {"text": "a"}, "external_id": "a"}])["imported"] == 1
    with pytest.raises(ValidationError):
        sdk_project.import_records([{"data": {"text": "a again"}, "external_id": "a"}])
    result = sdk_project.import_records([{"data": {"text": "a again"}, "external_id": "a"}], on_duplicate="update")
    assert result["updated"] == 1
    assert Item.objects.get(project=project, external_id="a").data == {"text": "a again"}


def test_import_file_csv_with_label_column_and_export_to_file(connect, admin, project, tmp_path):
    sdk_project = connect(admin).project(project.id)
    source = tmp_path / "reviews.csv"
    source.write_text("text,sentiment\ngreat film,pos\nawful,neg\nmeh,\n")
    result = sdk_project.import_file(source, label_column="sentiment")
    assert result["imported"] == 3
    target = tmp_path / "out" / "export.jsonl"
    target.parent.mkdir()
    written = sdk_project.export_to(target)
    assert written == target.stat().st_size > 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines == list(sdk_project.export())
    assert {r["data"]["text"]: (r["final"] or {}).get("value") for r in lines} == {
        "great film": {"label": "pos"}, "awful": {"label": "neg"}, "meh": None}
    csv_path = tmp_path / "export.csv"
    sdk_project.export_to(csv_path, format="csv")
    assert csv_path.read_text().splitlines()[0].startswith("id,")
    # A refused export leaves no file behind.
    with pytest.raises(ValidationError) as caught:
        sdk_project.export_to(tmp_path / "bad.json", format="nope")
    assert "format" in str(caught.value)
    assert not list(tmp_path.glob("*bad*"))


def test_to_pandas_has_flat_columns(connect, admin, project):
    sdk_project = connect(admin).project(project.id)
    sdk_project.import_records([{"data": {"text": f"t{i}", "lang": "en"}, "gold": {"label": "neg"}} for i in range(3)]
                               + [{"data": {"text": "open"}}])
    frame = sdk_project.to_pandas()
    assert len(frame) == 4
    for column in ("id", "external_id", "status", "data.text", "data.lang", "label", "final_value", "final_source",
                   "annotation_count", "prediction_label", "prediction_confidence"):
        assert column in frame.columns
    assert list(frame["label"][:3]) == ["neg"] * 3 and frame["final_source"][0] == "gold"
    assert frame["label"].isna()[3]
    assert len(sdk_project.to_pandas(only_final=True)) == 3
    empty = connect(admin).create_project("Empty", "classification", ["a", "b"]).to_pandas()
    assert list(empty.columns) == list(flatten_record({}).keys())


@pytest.mark.worker
def test_a_large_import_runs_as_a_job_and_is_waited_on(connect, admin, project, worker, settings):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 100
    sdk_project = connect(admin).project(project.id)
    result = sdk_project.import_records(({"data": {"text": f"row {i}"}} for i in range(200)), progress=True)
    assert result["imported"] == 200
    assert sdk_project.last_import_job.id == Job.objects.get(kind="import").pk
    assert Item.objects.filter(project=project).count() == 200
    # Without waiting: the job's id.
    started = sdk_project.import_records([{"data": {"text": f"more {i}"}} for i in range(10)], wait=False)
    job = connect(admin).job(started["job"]).wait(progress=False, timeout=60)
    assert job.state == "succeeded" and job.result["imported"] == 10
