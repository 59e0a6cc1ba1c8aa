"""Importing items: JSON bodies and .json/.jsonl uploads, all-or-nothing, with errors naming the record."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from tasks.models import FinalSource, Item, ItemStatus, Job
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db


def post_json(client, project, records):
    return client.post(f"/api/projects/{project.pk}/import/", records, format="json")


def upload(client, project, name: str, content: bytes):
    return client.post(f"/api/projects/{project.pk}/import/",
                       {"file": SimpleUploadedFile(name, content)}, format="multipart")


def jsonl(*records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)



def the_error(response) -> dict:
    """The one error of a refused import."""
    body = response.json()
    assert body["detail"].startswith("Nothing was imported.")
    [error] = body["errors"]
    return error


# --- JSON array bodies --------------------------------------------------------------------------

def test_admin_imports_flat_records(as_user, admin, project):
    r = post_json(as_user(admin), project, [{"text": "good film"}, {"text": "bad film", "lang": "en"}])

    assert r.status_code == 201
    assert r.json()["imported"] == 2
    items = list(Item.objects.filter(project=project).order_by("id"))
    assert [i.data for i in items] == [{"text": "good film"}, {"text": "bad film", "lang": "en"}]
    assert all(i.status == ItemStatus.NEW and i.needed == 1 and i.external_id is None for i in items)
    event = AuditEvent.objects.get(action="items.imported")
    assert (event.user_id, event.project_id, event.payload["imported"]) == (admin.pk, project.pk, 2)


def test_admin_imports_wrapped_records_with_external_id_and_gold(as_user, admin, project):
    r = post_json(as_user(admin), project, [
        {"data": {"text": "good film"}, "external_id": "r-1", "gold": {"label": "pos"}},
        {"data": {"text": "meh"}, "external_id": "r-2"},
    ])

    assert r.status_code == 201
    gold, plain = Item.objects.filter(project=project).order_by("id")
    assert (gold.external_id, gold.data, gold.gold) == ("r-1", {"text": "good film"}, {"label": "pos"})
    assert (gold.status, gold.final_value, gold.final_source) == (ItemStatus.DONE, {"label": "pos"}, FinalSource.GOLD)
    assert (plain.external_id, plain.status, plain.gold, plain.final_source) == ("r-2", ItemStatus.NEW, None, "")


def test_flat_records_may_carry_external_id_and_gold(as_user, admin, project):
    r = post_json(as_user(admin), project, [{"text": "x", "external_id": "a", "gold": {"label": "neg"}}])

    assert r.status_code == 201
    item = Item.objects.get(project=project)
    assert (item.data, item.external_id, item.final_value) == ({"text": "x"}, "a", {"label": "neg"})


def test_numeric_external_ids_are_stored_as_strings(as_user, admin, project):
    post_json(as_user(admin), project, [{"text": "x", "external_id": 17}])

    assert Item.objects.get(project=project).external_id == "17"


def test_new_items_take_the_projects_overlap(as_user, admin, annotator):
    project = make_project(admin, [annotator], overlap=3)

    post_json(as_user(admin), project, [{"text": "x"}])

    assert Item.objects.get(project=project).needed == 3


def test_empty_array_imports_nothing(as_user, admin, project):
    r = post_json(as_user(admin), project, [])

    assert r.status_code == 201
    assert r.json()["imported"] == 0
    assert not Item.objects.exists()


@pytest.mark.parametrize(("records", "record", "field"), [
    ([{"text": "ok"}, {"txt": "typo"}], 2, "data.text"),
    ([{"text": "ok"}, {"text": ""}], 2, "data.text"),
    ([{"text": "ok"}, {"text": 5}], 2, "data.text"),
    ([{"data": "not an object"}], 1, "data"),
    ([{"text": "ok"}, "just a string"], 2, None),
    ([{"text": "ok"}, {"text": "ok"}, [1, 2]], 3, None),
    ([{"text": "ok", "gold": "pos"}], 1, "gold"),
    ([{"text": "ok", "gold": {"labels": ["pos"]}}], 1, "gold.label"),
    ([{"text": "ok"}, {"text": "ok", "gold": {"label": "meh"}}], 2, "gold.label"),
    ([{"text": "ok", "external_id": ["x"]}], 1, "external_id"),
    ([{"text": "ok", "external_id": "x" * 256}], 1, "external_id"),
    ([{"text": "a", "external_id": "same"}, {"text": "b"}, {"text": "c", "external_id": "same"}], 3, "external_id"),
])
def test_bad_record_imports_nothing_and_is_named(as_user, admin, project, records, record, field):
    r = post_json(as_user(admin), project, records)

    assert r.status_code == 400
    error = the_error(r)
    assert error["record"] == record
    assert error["field"] == field
    assert error["message"]
    assert f"record {record}" in r.json()["detail"]
    assert not Item.objects.exists()
    assert not AuditEvent.objects.filter(action="items.imported").exists()


def test_external_id_already_in_the_project_is_refused(as_user, admin, project):
    make_items(project, 1, external_id="taken")

    r = post_json(as_user(admin), project, [{"text": "new", "external_id": "fresh"},
                                            {"text": "dup", "external_id": "taken"}])

    assert r.status_code == 400
    assert the_error(r) == {"record": 2, "field": "external_id", "message": the_error(r)["message"]}
    assert "already exists" in the_error(r)["message"]
    assert list(Item.objects.values_list("external_id", flat=True)) == ["taken"]


def test_same_external_id_in_another_project_is_fine(as_user, admin, project):
    other = make_project(admin, name="Other")
    make_items(other, 1, external_id="shared")

    r = post_json(as_user(admin), project, [{"text": "x", "external_id": "shared"}])

    assert r.status_code == 201
    assert Item.objects.filter(external_id="shared").count() == 2


def test_malformed_json_body_imports_nothing(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/", b'[{"text": "a"},', content_type="application/json")

    assert r.status_code == 400
    assert "Malformed JSON" in r.json()["detail"]
    assert not Item.objects.exists()


def test_json_object_body_is_not_an_array(as_user, admin, project):
    r = post_json(as_user(admin), project, {"text": "one record, not in an array"})

    assert r.status_code == 400
    assert "array" in r.json()["detail"]
    assert not Item.objects.exists()


def test_json_body_above_the_limit_is_413(as_user, admin, project, settings):
    settings.HITL_MAX_JSON_BODY = 200
    records = [{"text": "x" * 50} for _ in range(10)]

    r = post_json(as_user(admin), project, records)

    assert r.status_code == 413
    assert "200 bytes" in r.json()["detail"]
    assert not Item.objects.exists()


def test_json_body_at_the_limit_is_accepted(as_user, admin, project, settings):
    records = [{"text": "x" * 50} for _ in range(3)]
    settings.HITL_MAX_JSON_BODY = len(orjson.dumps(records))

    r = post_json(as_user(admin), project, records)

    assert r.status_code == 201
    assert Item.objects.count() == 3


def test_form_encoded_body_is_not_an_import(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/", "text=hello",
                            content_type="application/x-www-form-urlencoded")

    assert r.status_code == 415
    assert not Item.objects.exists()


def test_import_into_unknown_project_is_404(as_user, admin):
    r = as_user(admin).post("/api/projects/999999/import/", [{"text": "x"}], format="json")

    assert r.status_code == 404
    assert not Item.objects.exists()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admins_cannot_import(as_user, request, project, persona):
    r = post_json(as_user(request.getfixturevalue(persona)), project, [{"text": "x"}])

    assert r.status_code == 403
    assert not Item.objects.exists()


def test_outsider_cannot_import(as_user, project, outsider):
    r = post_json(as_user(outsider), project, [{"text": "x"}])

    assert r.status_code == 404
    assert not Item.objects.exists()


def test_non_admin_gets_403_even_for_an_oversized_body(as_user, project, annotator, settings):
    settings.HITL_MAX_JSON_BODY = 10

    r = post_json(as_user(annotator), project, [{"text": "x" * 100}])

    assert r.status_code == 403


# --- task types ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("task_type", "labels", "data"), [
    ("classification", ["a"], {"text": "hello"}),
    ("classification", ["a"], {"image": "https://example.com/cat.png"}),
    ("multi_label", ["a", "b"], {"text": "hello"}),
    ("spans", ["PER"], {"text": "Ada Lovelace"}),
    ("boxes", ["car"], {"image": "https://example.com/street.jpg"}),
    ("pairwise", [], {"prompt": "Say hi", "a": "Hi!", "b": "Hello."}),
])
def test_each_task_type_accepts_its_data(as_user, admin, task_type, labels, data):
    project = make_project(admin, task_type=task_type, labels=labels)

    r = post_json(as_user(admin), project, [data])

    assert r.status_code == 201
    assert Item.objects.get(project=project).data == data


@pytest.mark.parametrize(("task_type", "labels", "data", "field"), [
    ("classification", ["a"], {"title": "no text"}, "data.text"),
    ("spans", ["PER"], {"image": "https://example.com/x.png"}, "data.text"),
    ("boxes", ["car"], {"text": "not an image"}, "data.image"),
    ("boxes", ["car"], {"image": ""}, "data.image"),
    ("pairwise", [], {"prompt": "p", "a": "x"}, "data.b"),
    ("pairwise", [], {"a": "x", "b": "y"}, "data.prompt"),
    ("pairwise", [], {"prompt": "p", "a": " ", "b": "y"}, "data.a"),
])
def test_each_task_type_requires_its_data(as_user, admin, task_type, labels, data, field):
    project = make_project(admin, task_type=task_type, labels=labels)

    r = post_json(as_user(admin), project, [data])

    assert r.status_code == 400
    assert the_error(r)["field"] == field
    assert not Item.objects.exists()


@pytest.mark.parametrize(("task_type", "labels", "record"), [
    ("multi_label", ["a", "b"], {"text": "t", "gold": {"labels": ["b", "a"]}}),
    ("spans", ["PER"], {"text": "Ada Lovelace", "gold": {"spans": [{"start": 0, "end": 3, "label": "PER"}]}}),
    ("boxes", ["car"], {"image": "u", "gold": {"boxes": [{"x": 0, "y": 0, "w": 5, "h": 5, "label": "car"}]}}),
    ("pairwise", [], {"prompt": "p", "a": "x", "b": "y", "gold": {"choice": "tie"}}),
])
def test_gold_values_of_each_task_type_are_accepted(as_user, admin, task_type, labels, record):
    project = make_project(admin, task_type=task_type, labels=labels)

    r = post_json(as_user(admin), project, [record])

    assert r.status_code == 201
    item = Item.objects.get(project=project)
    assert (item.gold, item.final_source, item.status) == (record["gold"], FinalSource.GOLD, ItemStatus.DONE)


@pytest.mark.parametrize(("task_type", "labels", "record", "field"), [
    ("spans", ["PER"], {"text": "Ada", "gold": {"spans": [{"start": 0, "end": 4, "label": "PER"}]}},
     "gold.spans[0].end"),
    ("spans", ["PER"], {"text": "Ada", "gold": {"spans": [{"start": 0, "end": 2, "label": "LOC"}]}},
     "gold.spans[0].label"),
    ("boxes", ["car"], {"image": "u", "gold": {"boxes": [{"x": 0, "y": 0, "w": 0, "h": 5, "label": "car"}]}},
     "gold.boxes[0].w"),
    ("pairwise", [], {"prompt": "p", "a": "x", "b": "y", "gold": {"choice": "c"}}, "gold.choice"),
    ("multi_label", ["a"], {"text": "t", "gold": {"labels": "a"}}, "gold.labels"),
])
def test_gold_values_that_do_not_fit_are_refused(as_user, admin, task_type, labels, record, field):
    project = make_project(admin, task_type=task_type, labels=labels)

    r = post_json(as_user(admin), project, [record])

    assert r.status_code == 400
    assert the_error(r)["field"] == field
    assert not Item.objects.exists()


# --- file uploads -------------------------------------------------------------------------------

def test_admin_uploads_json_file(as_user, admin, project):
    content = orjson.dumps([{"text": "a"}, {"data": {"text": "b"}, "external_id": "b"}])

    r = upload(as_user(admin), project, "items.json", content)

    assert r.status_code == 201
    assert r.json()["imported"] == 2
    assert list(Item.objects.order_by("id").values_list("data", "external_id")) == [
        ({"text": "a"}, None), ({"text": "b"}, "b")]


def test_admin_uploads_jsonl_file_with_blank_lines(as_user, admin, project):
    content = jsonl({"text": "a"}) + b"\n   \n" + jsonl({"text": "b", "gold": {"label": "pos"}})

    r = upload(as_user(admin), project, "items.jsonl", content)

    assert r.status_code == 201
    assert r.json()["imported"] == 2
    assert list(Item.objects.order_by("id").values_list("status", flat=True)) == ["new", "done"]


def test_jsonl_file_with_crlf_line_endings(as_user, admin, project):
    r = upload(as_user(admin), project, "items.jsonl", b'{"text": "a"}\r\n{"text": "b"}\r\n')

    assert r.status_code == 201
    assert Item.objects.count() == 2


@pytest.mark.parametrize(("content", "line", "field", "message"), [
    (b'{"text": "a"}\n{"text": "b"\n{"text": "c"}\n', 2, None, "malformed JSON"),
    (b'{"text": "a"}\n\n{"body": "c"}\n', 3, "data.text", "is required"),
    (b'{"text": "a"}\n[1]\n', 2, None, "must be a JSON object"),
    (b'{"text": "a", "gold": {"label": "maybe"}}\n', 1, "gold.label", "unknown label"),
    (b'{"text": "a", "external_id": "x"}\n{"text": "b", "external_id": "x"}\n', 2, "external_id", "twice"),
])
def test_bad_jsonl_line_imports_nothing_and_names_the_line(as_user, admin, project, content, line, field, message):
    r = upload(as_user(admin), project, "items.jsonl", content)

    assert r.status_code == 400
    error = the_error(r)
    assert (error["line"], error["field"]) == (line, field)
    assert message in error["message"]
    assert f"line {line}" in r.json()["detail"]
    assert not Item.objects.exists()


def test_jsonl_duplicate_of_an_existing_external_id_names_the_line(as_user, admin, project):
    make_items(project, 1, external_id="old")

    r = upload(as_user(admin), project, "items.jsonl", jsonl({"text": "a"}, {"text": "b", "external_id": "old"}))

    assert r.status_code == 400
    assert (the_error(r)["line"], the_error(r)["field"]) == (2, "external_id")
    assert Item.objects.count() == 1


def test_malformed_json_file_imports_nothing(as_user, admin, project):
    r = upload(as_user(admin), project, "items.json", b'[{"text": "a"}, {"text": ')

    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]
    assert not Item.objects.exists()


def test_bad_record_in_json_file_is_named(as_user, admin, project):
    r = upload(as_user(admin), project, "items.json", orjson.dumps([{"text": "a"}, {"text": "b"}, {"t": "c"}]))

    assert r.status_code == 400
    assert (the_error(r)["record"], the_error(r)["field"]) == (3, "data.text")
    assert not Item.objects.exists()


def test_unsupported_file_type_is_refused(as_user, admin, project):
    r = upload(as_user(admin), project, "items.txt", b"hello")

    assert r.status_code == 400
    assert the_error(r)["field"] == "file"
    assert not Item.objects.exists()


def test_upload_without_a_file_field_is_refused(as_user, admin, project):
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/",
                            {"records": SimpleUploadedFile("items.json", b"[]")}, format="multipart")

    assert r.status_code == 400
    assert "file" in r.json()
    assert not Item.objects.exists()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admins_cannot_upload(as_user, request, project, persona):
    r = upload(as_user(request.getfixturevalue(persona)), project, "items.jsonl", jsonl({"text": "a"}))

    assert r.status_code == 403
    assert not Item.objects.exists()


def test_large_upload_becomes_an_import_job(as_user, admin, project, settings):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 10
    content = jsonl({"text": "a"}, {"text": "b"})

    r = upload(as_user(admin), project, "big.jsonl", content)

    assert r.status_code == 202
    job = Job.objects.get(pk=r.json()["job"])
    assert (job.kind, job.state, job.project_id, job.created_by_id) == ("import", "pending", project.pk, admin.pk)
    [(path, name)] = job.params["files"]
    assert name == "big.jsonl" and Path(path).read_bytes() == content
    assert Path(path).is_relative_to(settings.MEDIA_ROOT)  # streamed to disk, kept in the media folder
    assert not Item.objects.exists()  # a worker does the import
    Path(path).unlink()


def test_large_upload_of_unsupported_type_is_refused_without_a_job(as_user, admin, project, settings):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 10

    r = upload(as_user(admin), project, "big.txt", b"x" * 100)

    assert r.status_code == 400
    assert not Job.objects.exists()
