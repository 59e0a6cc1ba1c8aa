"""Importing items with the labels they already have, duplicate external ids, several files, the CLI."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from annotations.models import Annotation
from tasks.models import Assignment, FinalSource, Item, ItemStatus, Job
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def post(client, project, records, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/projects/{project.pk}/import/?{query}", records, format="json")


def upload(client, project, *files: tuple[str, bytes], **fields):
    return client.post(f"/api/projects/{project.pk}/import/",
                       {"file": [SimpleUploadedFile(name, content) for name, content in files], **fields},
                       format="multipart")


def png(size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, "PNG")
    return out.getvalue()


# --- duplicate external ids -----------------------------------------------------------------------------

@pytest.fixture
def existing(project):
    Item.objects.create(project=project, external_id="a", data={"text": "old a"})
    return project


def test_a_known_external_id_is_an_error_by_default_and_nothing_is_imported(as_user, admin, existing):
    r = post(as_user(admin), existing, [{"text": "new", "external_id": "n"}, {"text": "new a", "external_id": "a"}])

    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert (error["record"], error["field"]) == (2, "external_id")
    assert "already exists" in error["message"] and "on_duplicate" in error["message"]
    assert list(Item.objects.values_list("external_id", flat=True)) == ["a"]


def test_on_duplicate_skip_leaves_the_known_item_alone(as_user, admin, existing):
    r = post(as_user(admin), existing, [{"text": "new", "external_id": "n"}, {"text": "new a", "external_id": "a"}],
             on_duplicate="skip")

    assert r.status_code == 201
    assert r.json() == {"imported": 1, "updated": 0, "skipped": 1, "annotations": 0}
    assert Item.objects.get(external_id="a").data == {"text": "old a"}


def test_on_duplicate_update_replaces_the_data_and_sets_gold(as_user, admin, existing):
    r = post(as_user(admin), existing, [{"data": {"text": "new a"}, "external_id": "a", "gold": {"label": "pos"}}],
             on_duplicate="update")

    assert r.status_code == 201 and r.json()["updated"] == 1 and r.json()["imported"] == 0
    item = Item.objects.get(external_id="a")
    assert item.data == {"text": "new a"}
    assert (item.gold, item.final_source, item.status) == ({"label": "pos"}, FinalSource.GOLD, ItemStatus.DONE)
    assert Item.objects.count() == 1


def test_an_unknown_duplicate_policy_is_a_clear_error(as_user, admin, project):
    r = post(as_user(admin), project, [{"text": "x"}], on_duplicate="merge")
    assert r.status_code == 400 and "on_duplicate" in r.json()


# --- labels the records bring ---------------------------------------------------------------------------

def test_labels_as_annotations_become_annotations_with_their_leases(as_user, admin, annotator, annotator2, project):
    project.overlap = 2
    project.save()
    records = [
        {"data": {"text": "agreed"}, "annotations": [{"user": "ann", "value": {"label": "pos"}, "lead_time": 3.5},
                                                     {"user": "bob", "value": {"label": "pos"}}]},
        {"data": {"text": "disputed"}, "annotations": [{"user": "ann", "value": {"label": "pos"}},
                                                       {"user": "bob", "value": {"label": "neg"}}]},
        {"data": {"text": "half done"}, "annotations": [{"user": "ann", "value": {"label": "neg"}}]},
    ]

    r = post(as_user(admin), project, records)

    assert r.status_code == 201 and r.json()["annotations"] == 5
    agreed, disputed, half = Item.objects.order_by("id")
    assert (agreed.status, agreed.final_source, agreed.final_value) == ("done", "consensus", {"label": "pos"})
    assert (disputed.status, disputed.review_reason) == ("in_review", "disagreement")
    assert (half.status, half.annotation_count) == ("queued", 1)
    assert Annotation.objects.get(item=agreed, user=annotator).lead_time == 3.5
    assert Assignment.objects.filter(user=annotator).count() == 3
    # The imported annotator is not handed an item they already labeled; the other one is.
    assert as_user(annotator).get(f"/api/projects/{project.pk}/next/").status_code == 204
    assert as_user(annotator2).get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == half.pk


def test_each_annotation_and_its_lease_are_stored_as_the_record_gives_them(as_user, admin, annotator, annotator2,
                                                                           project):
    records = [
        {"data": {"text": "skipped, then labeled"}, "annotations": [
            {"user": "ann", "value": None, "skipped": True, "lead_time": 1.25, "time": "2026-03-04T05:06:07Z"},
            {"user": "bob", "value": {"label": "neg"}}]},
        {"data": {"text": "a slow one"}, "annotations": [{"user": "ann", "value": {"label": "pos"}, "lead_time": 42}]},
    ]

    r = post(as_user(admin), project, records)

    assert r.status_code == 201 and r.json()["annotations"] == 3
    first, second = Item.objects.order_by("id")
    skipped = Annotation.objects.get(item=first, user=annotator)
    assert (skipped.skipped, skipped.value, skipped.lead_time) == (True, None, 1.25)
    assert skipped.created_at.isoformat() == "2026-03-04T05:06:07+00:00"
    lease = Assignment.objects.get(item=first, user=annotator)
    assert lease.state == "skipped" and lease.leased_at == lease.expires_at == lease.finished_at == skipped.created_at
    labeled = Annotation.objects.get(item=first, user=annotator2)
    assert (labeled.skipped, labeled.value, labeled.lead_time) == (False, {"label": "neg"}, None)
    assert Assignment.objects.get(item=first, user=annotator2).state == "submitted"
    assert Annotation.objects.get(item=second).lead_time == 42
    # The skip does not count: each item is settled by its one label.
    assert [(i.annotation_count, i.status, i.final_value) for i in (first, second)] == [
        (1, "done", {"label": "neg"}), (1, "done", {"label": "pos"})]


def test_items_that_bring_the_same_labels_each_get_the_state_those_labels_give(as_user, admin, annotator, annotator2,
                                                                                project):
    # A labeled dataset repeats a few label sets; each set's state is worked out once and each item gets it.
    project.overlap = 2
    project.save()
    sets = [("pos", "pos"), ("pos", "neg"), ("neg",), ("neg", "neg")]
    records = [{"data": {"text": f"item {k}"}, "annotations": [
        {"user": user, "value": {"label": label}} for user, label in zip(("ann", "bob"), sets[k % 4])]}
        for k in range(12)]

    assert post(as_user(admin), project, records).status_code == 201

    states = [(i.annotation_count, i.status, i.final_value, i.review_reason) for i in Item.objects.order_by("id")]
    expected = [(2, "done", {"label": "pos"}, ""), (2, "in_review", None, "disagreement"), (1, "queued", None, ""),
                (2, "done", {"label": "neg"}, "")]
    assert states == expected * 3


def test_predictions_and_final_values_come_in_as_they_were(as_user, admin, reviewer, project):
    records = [
        {"data": {"text": "predicted"}, "prediction": {"value": {"label": "neg"}, "confidence": 0.7,
                                                       "model_version": "bert-3"}},
        {"data": {"text": "reviewed"}, "final": {"value": {"label": "pos"}, "source": "reviewer", "by": "rita",
                                                 "at": "2026-01-02T03:04:05Z"}},
    ]

    assert post(as_user(admin), project, records).status_code == 201

    predicted, reviewed = Item.objects.order_by("id")
    assert (predicted.status, predicted.confidence) == ("queued", 0.7)
    assert predicted.prediction["value"] == {"label": "neg"} and predicted.prediction["model_version"] == "bert-3"
    assert (reviewed.status, reviewed.final_source, reviewed.final_by) == ("done", "reviewer", reviewer)
    assert reviewed.final_at.isoformat() == "2026-01-02T03:04:05+00:00"


def test_an_annotation_by_an_unknown_user_names_the_record_and_imports_nothing(as_user, admin, project):
    records = [{"text": "fine"}, {"data": {"text": "x"}, "annotations": [{"user": "ghost", "value": {"label": "pos"}}]}]

    r = post(as_user(admin), project, records)

    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert (error["record"], error["field"]) == (2, "annotations[0].user")
    assert "no user named 'ghost'" in error["message"]
    assert not Item.objects.exists() and not Annotation.objects.exists()


def test_a_csv_label_column_comes_in_as_annotations_of_the_named_annotator(as_user, admin, annotator, project):
    content = b"external_id,text,label\nr1,a fine film,pos\nr2,a dull film,neg\n"

    r = upload(as_user(admin), project, ("reviews.csv", content), label_column="label", labels_as="annotations",
               annotator="ann")

    assert r.status_code == 201, r.json()
    assert r.json()["annotations"] == 2
    assert list(Item.objects.order_by("id").values_list("external_id", "final_value")) == [
        ("r1", {"label": "pos"}), ("r2", {"label": "neg"})]
    assert set(Annotation.objects.values_list("user__username", flat=True)) == {"ann"}


# --- several files, images, limits ------------------------------------------------------------------------

def test_several_files_of_different_kinds_go_in_together(as_user, admin, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    project = make_project(admin, labels=["cat", "dog"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pets/one.png", png())
        z.writestr("pets/two.png", png())

    r = upload(as_user(admin), project, ("more.png", png()), ("pets.zip", archive.getvalue()))

    assert r.status_code == 201, r.json()
    assert r.json()["imported"] == 3
    for item in Item.objects.all():
        assert (Path(settings.MEDIA_ROOT) / item.data["image"].removeprefix(settings.MEDIA_URL)).is_file()


def test_a_failed_image_import_leaves_no_file_behind(as_user, admin, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    project = make_project(admin, labels=["cat", "dog"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("one.png", png())
        z.writestr("notes.txt", b"not an image")

    r = upload(as_user(admin), project, ("pets.zip", archive.getvalue()))

    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["entry"] == 2 and "notes.txt" in error["message"]
    assert not Item.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_an_upload_over_the_size_limit_is_refused(as_user, admin, project, settings):
    settings.HITL_MAX_UPLOAD = 1000

    r = upload(as_user(admin), project, ("big.jsonl", b'{"text": "x"}\n' * 200))

    assert r.status_code == 413
    assert "at most 1000 bytes" in r.json()["detail"]
    assert not Item.objects.exists() and not Job.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_large_csv_upload_runs_as_a_job_with_its_options(worker, as_user, admin, project, settings):
    from tests.conftest import wait_for_job

    settings.HITL_INLINE_IMPORT_MAX_BYTES = 100
    rows = "".join(f"r{i},review number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(2000))
    content = ("id,body,label\n" + rows).encode()

    r = upload(as_user(admin), project, ("reviews.csv", content), text_column="body", label_column="label")

    assert r.status_code == 202
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded", job.error
    assert job.result["imported"] == 2000 and job.progress == 2000
    assert Item.objects.filter(project=project, final_source="gold").count() == 2000
    assert Item.objects.get(project=project, data__text="review number 7").gold == {"label": "pos"}


# --- the command line --------------------------------------------------------------------------------------

def test_import_items_reads_files_and_reports_what_it_did(admin, project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"text": f"t{i}", "external_id": f"e{i}"}) + b"\n" for i in range(50)))

    call_command("import_items", str(project.pk), str(path), "--no-progress")

    assert Item.objects.filter(project=project).count() == 50
    assert "Imported 50 items" in capsys.readouterr().out
    call_command("import_items", str(project.pk), str(path), "--no-progress", "--on-duplicate", "skip")
    assert "50 skipped" in capsys.readouterr().out


def test_import_items_names_the_bad_line_and_imports_nothing(admin, project, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "broken"\n')

    with pytest.raises(CommandError, match="Nothing imported. line 2: malformed JSON"):
        call_command("import_items", str(project.pk), str(path), "--no-progress")
    assert not Item.objects.exists()
    with pytest.raises(CommandError, match="There is no project 999"):
        call_command("import_items", "999", str(path))
