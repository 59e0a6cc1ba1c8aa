"""COCO export of boxes projects: images, boxes and categories from final values."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dataio.export import reading
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final

pytestmark = pytest.mark.django_db


@pytest.fixture
def boxes_project(admin):
    return make_project(admin, name="Boxes", task_type="boxes", labels=["car", "person"])


def box(x, y, w, h, label):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def test_coco_holds_images_boxes_and_categories_of_final_values(as_user, admin, boxes_project, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    (tmp_path / "up").mkdir()
    Image.new("L", (64, 48)).save(tmp_path / "up" / "a.png")
    sized, uploaded, remote, undecided = add_items(
        boxes_project,
        {"data": {"image": "https://example.org/1.jpg", "width": 640, "height": 480},
         **final({"boxes": [box(10, 20, 30, 40, "car"), box(1.5, 2, 3, 4.5, "person")]})},
        {"data": {"image": f"{settings.MEDIA_URL}up/a.png"}, **final({"boxes": [box(0, 0, 8, 8, "person")]})},
        {"data": {"image": "https://example.org/2.jpg"}, **final({"boxes": []})},
        {"data": {"image": "https://example.org/3.jpg"}},
    )

    r = export(as_user(admin), boxes_project, "coco")
    doc = json.loads(body_of(r))

    assert r["Content-Type"] == "application/json"
    assert f'filename="project-{boxes_project.pk}-coco.json"' in r["Content-Disposition"]
    assert doc["categories"] == [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]
    assert doc["images"] == [
        {"id": sized.pk, "file_name": "https://example.org/1.jpg", "width": 640, "height": 480},
        {"id": uploaded.pk, "file_name": f"{settings.MEDIA_URL}up/a.png", "width": 64, "height": 48},
        # No size known: left out rather than 0.
        {"id": remote.pk, "file_name": "https://example.org/2.jpg"},
    ]
    assert doc["annotations"] == [
        {"id": 1, "image_id": sized.pk, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
        {"id": 2, "image_id": sized.pk, "category_id": 2, "bbox": [1.5, 2, 3, 4.5], "area": 13.5, "iscrowd": 0},
        {"id": 3, "image_id": uploaded.pk, "category_id": 2, "bbox": [0, 0, 8, 8], "area": 64, "iscrowd": 0},
    ]
    assert undecided.pk not in {i["id"] for i in doc["images"]}


def test_coco_streams_several_chunks_into_one_document(as_user, admin, boxes_project, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK", 3)
    items = add_items(boxes_project, *[
        {"data": {"image": f"/img/{i}.png"}, **final({"boxes": [box(i, i, 2, 2, "car")] * (i % 3)})}
        for i in range(10)])

    r = export(as_user(admin), boxes_project, "coco")
    chunks = list(r.streaming_content)
    doc = json.loads(b"".join(chunks))

    assert len(chunks) > 4
    assert [i["id"] for i in doc["images"]] == [i.pk for i in items]
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 10))
    assert {a["image_id"] for a in doc["annotations"]} == {i.pk for k, i in enumerate(items) if k % 3}


def test_coco_of_a_project_without_final_values_is_empty(as_user, admin, boxes_project):
    add_items(boxes_project, {"data": {"image": "/img/1.png"}})

    doc = json.loads(body_of(export(as_user(admin), boxes_project, "coco")))

    assert (doc["images"], doc["annotations"], len(doc["categories"])) == ([], [], 2)


def test_coco_keeps_boxes_of_a_label_removed_since(as_user, admin, boxes_project):
    add_items(boxes_project, {"data": {"image": "/img/1.png"}, **final({"boxes": [box(1, 1, 1, 1, "bus")]})})

    doc = json.loads(body_of(export(as_user(admin), boxes_project, "coco")))

    assert doc["categories"][-1] == {"id": 3, "name": "bus"}
    assert doc["annotations"][0]["category_id"] == 3


def test_coco_honours_the_filters(as_user, admin, boxes_project):
    kept, _ = add_items(
        boxes_project,
        {"data": {"image": "/img/1.png"}, **final({"boxes": [box(1, 1, 1, 1, "car")]}, source="reviewer")},
        {"data": {"image": "/img/2.png"}, **final({"boxes": [box(1, 1, 1, 1, "car")]}, source="model")},
    )

    doc = json.loads(body_of(export(as_user(admin), boxes_project, "coco", source="reviewer")))

    assert [i["id"] for i in doc["images"]] == [kept.pk]
    assert [a["image_id"] for a in doc["annotations"]] == [kept.pk]


def test_an_unreadable_upload_has_no_size(as_user, admin, boxes_project, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    Path(tmp_path / "junk.png").write_bytes(b"not an image")
    add_items(boxes_project, {"data": {"image": f"{settings.MEDIA_URL}junk.png"}, **final({"boxes": []})},
              {"data": {"image": f"{settings.MEDIA_URL}../outside.png"}, **final({"boxes": []})})

    doc = json.loads(body_of(export(as_user(admin), boxes_project, "coco")))

    assert all("width" not in image for image in doc["images"])
