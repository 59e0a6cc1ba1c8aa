"""Previewing an import: the format, a CSV's columns and the first records as the import would store
them, or the first error with its line number; nothing is ever stored."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tasks.models import Item, Job
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


def preview(client, project, *files: tuple[str, bytes], **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/projects/{project.pk}/import/preview/?{query}",
                       {"file": [SimpleUploadedFile(name, content) for name, content in files]}, format="multipart")


def jsonl(*records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def png(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def nothing_stored(project, media: Path | None = None) -> None:
    assert Item.objects.filter(project=project).count() == 0
    assert Job.objects.count() == 0
    if media is not None:
        assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_json_array_shows_the_first_ten_records_with_their_labels(as_user, admin, project):
    records = [{"text": f"review {i}", "external_id": f"r{i}", "gold": {"label": "pos"} if i == 1 else None}
               for i in range(1, 13)]
    r = preview(as_user(admin), project, ("items.json", orjson.dumps(records)))

    assert r.status_code == 200
    body = r.json()
    assert (body["format"], body["columns"], body["more"], body["error"]) == ("json", None, True, None)
    assert len(body["records"]) == 10
    first = body["records"][0]
    assert (first["unit"], first["number"], first["data"], first["external_id"], first["gold"]) == (
        "record", 1, {"text": "review 1"}, "r1", {"label": "pos"})
    nothing_stored(project)


def test_jsonl_with_predictions_and_annotations(as_user, admin, project, annotator):
    r = preview(as_user(admin), project, ("items.jsonl", jsonl(
        {"data": {"text": "good"}, "prediction": {"value": {"label": "pos"}, "confidence": 0.9, "model_version": "m1"}},
        {"data": {"text": "bad"}, "annotations": [{"user": annotator.username, "value": {"label": "neg"}}]})))

    body = r.json()
    assert (body["format"], body["more"], body["error"]) == ("jsonl", False, None)
    good, bad = body["records"]
    assert (good["unit"], good["number"], good["prediction"]) == (
        "line", 1, {"value": {"label": "pos"}, "confidence": 0.9, "model_version": "m1"})
    assert bad["annotations"] == [{"user": annotator.username, "value": {"label": "neg"}, "skipped": False}]
    nothing_stored(project)


def test_csv_gives_its_columns_and_reads_the_chosen_ones(as_user, admin, project):
    content = b"id,review,stars,sentiment\r\n1,great film,5,pos\r\n2,dull,1,neg\r\n"
    client = as_user(admin)

    default = preview(client, project, ("items.csv", content)).json()
    assert default["format"] == "csv"
    assert default["columns"] == ["id", "review", "stars", "sentiment"]
    assert default["header_bytes"] == len(b"id,review,stars,sentiment\r\n")
    assert default["records"] == []
    assert default["error"]["field"] == "text" and "no 'text' column" in default["error"]["message"]

    chosen = preview(client, project, ("items.csv", content), text_column="review", columns="review,stars",
                     label_column="sentiment").json()
    assert chosen["error"] is None
    assert [(x["unit"], x["number"], x["data"], x["gold"]) for x in chosen["records"]] == [
        ("row", 2, {"text": "great film", "stars": "5"}, {"label": "pos"}),
        ("row", 3, {"text": "dull", "stars": "1"}, {"label": "neg"})]

    as_predictions = preview(client, project, ("items.csv", content), text_column="review",
                             label_column="sentiment", labels_as="predictions").json()
    assert as_predictions["records"][0]["prediction"]["value"] == {"label": "pos"}
    assert as_predictions["records"][0]["data"] == {"id": "1", "text": "great film", "stars": "5"}
    nothing_stored(project)


def test_label_studio_json_is_recognised(as_user, admin, project):
    choice = [{"from_name": "s", "to_name": "text", "type": "choices", "value": {"choices": ["pos"]}}]
    tasks = [{"id": 11, "data": {"text": "great"}, "annotations": [{"completed_by": 1, "result": choice}],
              "predictions": [{"model_version": "m1", "score": 0.8, "result": choice}]}]
    r = preview(as_user(admin), project, ("export.json", orjson.dumps(tasks)))

    body = r.json()
    assert (body["format"], body["error"]) == ("label_studio", None)
    [record] = body["records"]
    assert (record["data"], record["external_id"], record["gold"]) == ({"text": "great"}, "11", {"label": "pos"})
    assert record["prediction"]["value"] == {"label": "pos"} and record["prediction"]["confidence"] == 0.8
    nothing_stored(project)


def test_a_zip_of_images_is_checked_and_nothing_is_kept(as_user, admin, media):
    project = make_project(admin, task_type="classification", labels=["cat", "dog"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(12):
            z.writestr(f"pets/{i:02}.png", png())
    r = preview(as_user(admin), project, ("pets.zip", archive.getvalue()))

    body = r.json()
    assert (body["format"], body["more"], body["error"]) == ("zip", True, None)
    assert len(body["records"]) == 10
    first = body["records"][0]
    assert (first["unit"], first["number"], first["external_id"]) == ("entry", 1, "pets/00.png")
    assert first["data"]["image"].startswith("/media/uploads/") and first["data"]["image"].endswith("/pets/00.png")
    nothing_stored(project, media)


def test_a_damaged_image_in_a_zip_names_its_entry(as_user, admin, media):
    project = make_project(admin, task_type="classification", labels=["cat", "dog"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.png", png())
        z.writestr("b.png", b"not an image")
    body = preview(as_user(admin), project, ("pets.zip", archive.getvalue())).json()

    assert len(body["records"]) == 1
    assert (body["error"]["unit"], body["error"]["number"]) == ("entry", 2)
    assert "'b.png' is not an image" in body["error"]["message"]
    nothing_stored(project, media)


def test_image_files(as_user, admin, media):
    project = make_project(admin, task_type="boxes", labels=["digit"])
    body = preview(as_user(admin), project, ("one.png", png()), ("two.png", png((0, 0, 0)))).json()

    assert (body["format"], body["error"]) == ("image", None)
    assert [r["external_id"] for r in body["records"]] == ["one.png", "two.png"]
    nothing_stored(project, media)


def test_a_bad_line_reports_its_number_after_the_good_ones(as_user, admin, project):
    r = preview(as_user(admin), project, ("items.jsonl", jsonl({"text": "a"}, {"text": "b"}) + b'{"text": "c",\n'))

    body = r.json()
    assert r.status_code == 200
    assert [x["data"]["text"] for x in body["records"]] == ["a", "b"]
    error = body["error"]
    assert (error["unit"], error["number"], error["field"]) == ("line", 3, None)
    assert error["detail"].startswith("Nothing would be imported. line 3: malformed JSON")
    nothing_stored(project)


def test_a_bad_csv_row_reports_its_line(as_user, admin, project):
    content = b"text,external_id\nfine,a\n,b\n"
    error = preview(as_user(admin), project, ("items.csv", content)).json()["error"]

    assert (error["unit"], error["number"], error["field"]) == ("row", 3, "data.text")


def test_an_external_id_the_project_has_is_reported_as_the_import_would(as_user, admin, project):
    make_items(project, 1, external_id="r2")
    body = preview(as_user(admin), project, ("items.jsonl", jsonl({"text": "a", "external_id": "r1"},
                                                                  {"text": "b", "external_id": "r2"}))).json()
    assert (body["error"]["number"], body["error"]["field"]) == (2, "external_id")
    assert "already exists" in body["error"]["message"]

    skipping = preview(as_user(admin), project, ("items.jsonl", jsonl({"text": "b", "external_id": "r2"})),
                       on_duplicate="skip").json()
    assert skipping["error"] is None
    assert Item.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("name,cut_at", [("items.json", -30), ("items.jsonl", -30), ("items.csv", -7)])
def test_the_first_bytes_of_a_long_file_preview_without_an_error_at_the_cut(as_user, admin, project, name, cut_at):
    rows = [{"text": f"review number {i}", "external_id": f"r{i}"} for i in range(1, 6)]
    content = {"items.json": orjson.dumps(rows, option=orjson.OPT_INDENT_2), "items.jsonl": jsonl(*rows),
               "items.csv": b"text,external_id\n" + b"".join(f"{r['text']},{r['external_id']}\n".encode()
                                                            for r in rows)}[name]
    body = preview(as_user(admin), project, (name, content[:cut_at]), partial="true").json()

    assert body["error"] is None, body["error"]
    assert body["more"] is True
    assert [r["external_id"] for r in body["records"]] == ["r1", "r2", "r3", "r4"]


def test_a_real_error_in_the_first_bytes_is_still_reported(as_user, admin, project):
    content = b'[{"text": "a"},\n {"text": "b"} {"text": "c"},\n' + b'{"text": "d"},\n' * 1000
    body = preview(as_user(admin), project, ("items.json", content[:200]), partial="true").json()

    assert (body["error"]["unit"], body["error"]["number"]) == ("line", 2)


def test_unsupported_files_are_named(as_user, admin, project):
    error = preview(as_user(admin), project, ("notes.txt", b"hello")).json()["error"]

    assert error["unit"] == "file" and "unsupported file type 'notes.txt'" in error["message"]


def test_only_those_who_may_import_may_preview(as_user, project, annotator, ml_engineer, outsider):
    for user, status in ((annotator, 403), (ml_engineer, 403), (outsider, 404)):
        assert preview(as_user(user), project, ("items.jsonl", jsonl({"text": "a"}))).status_code == status
    nothing_stored(project)


def test_a_preview_needs_a_file(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/preview/", {}, format="multipart")

    assert r.status_code == 400 and "file" in r.json()


def test_a_json_array_body_is_previewed_like_a_json_file(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/preview/",
                            [{"text": "a", "external_id": "x"}, {"txt": "b"}], format="json")

    body = r.json()
    assert (r.status_code, body["format"]) == (200, "json")
    assert [x["external_id"] for x in body["records"]] == ["x"]
    assert (body["error"]["unit"], body["error"]["number"], body["error"]["field"]) == ("record", 2, "data.text")
    nothing_stored(project)
