"""Label Studio JSON export: tasks with annotations, the final value as ground truth, and predictions."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from annotations.models import Annotation
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final

pytestmark = pytest.mark.django_db


def tasks_of(client, project, **params) -> list[dict]:
    r = export(client, project, "label_studio", **params)
    assert r["Content-Type"] == "application/json"
    assert f'filename="project-{project.pk}-label-studio.json"' in r["Content-Disposition"]
    return json.loads(body_of(r))


def results(annotation: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "id"} for r in annotation["result"]]


def test_classification_tasks(as_user, admin, project, annotator, annotator2, reviewer):
    annotator.email = "ann@example.org"
    annotator.save()
    decided, predicted = add_items(
        project,
        {"data": {"text": "fine"}, "external_id": "x-1", "final_by": reviewer, **final({"label": "pos"}, "reviewer")},
        {"data": {"text": "meh"}, "status": "queued",
         "prediction": {"model_version": 3, "value": {"label": "neg"}, "confidence": 0.7, "scores": {}}},
    )
    Annotation.objects.create(project=project, item=decided, user=annotator, value={"label": "neg"}, lead_time=3.0)
    Annotation.objects.create(project=project, item=decided, user=annotator2, value=None, skipped=True)

    first, second = tasks_of(as_user(admin), project)

    assert first["id"] == decided.pk and first["data"] == {"text": "fine"}
    assert first["meta"] == {"external_id": "x-1", "status": "done", "final_source": "reviewer"}
    human, skipped, truth = first["annotations"]
    assert human["completed_by"] == {"username": "ann", "email": "ann@example.org"}
    assert results(human) == [{"from_name": "label", "to_name": "text", "type": "choices",
                               "value": {"choices": ["neg"]}}]
    assert (human["lead_time"], human["was_cancelled"], human["ground_truth"]) == (3.0, False, False)
    assert human["created_at"]
    assert (skipped["completed_by"], skipped["result"], skipped["was_cancelled"]) == ({"username": "bob"}, [], True)
    assert truth["ground_truth"] is True and truth["completed_by"] == {"username": "rita"}
    assert results(truth)[0]["value"] == {"choices": ["pos"]}
    assert first["predictions"] == []
    assert second["annotations"] == []
    [prediction] = second["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("3", 0.7)
    assert results(prediction)[0]["value"] == {"choices": ["neg"]}


def test_image_classification_and_multi_label(as_user, admin):
    images = make_project(admin, name="Digits", labels=["0", "1"])
    add_items(images, {"data": {"image": "/media/0.png"}, **final({"label": "0"})})
    tags = make_project(admin, name="Tags", task_type="multi_label", labels=["a", "b", "c"])
    add_items(tags, {"data": {"text": "t"}, **final({"labels": ["a", "c"]})})
    client = as_user(admin)

    [image_task] = tasks_of(client, images)
    [tags_task] = tasks_of(client, tags)

    assert results(image_task["annotations"][0]) == [{"from_name": "label", "to_name": "image", "type": "choices",
                                                      "value": {"choices": ["0"]}}]
    assert results(tags_task["annotations"][0])[0]["value"] == {"choices": ["a", "c"]}
    # The final value of a consensus has nobody to credit.
    assert "completed_by" not in tags_task["annotations"][0]


def test_spans_carry_offsets_and_text(as_user, admin):
    project = make_project(admin, name="Spans", task_type="spans", labels=["PER"])
    add_items(project, {"data": {"text": "By Tom Hanks"},
                        **final({"spans": [{"start": 3, "end": 12, "label": "PER"}]})})

    [task] = tasks_of(as_user(admin), project)

    assert results(task["annotations"][0]) == [{"from_name": "label", "to_name": "text", "type": "labels",
                                                "value": {"start": 3, "end": 12, "text": "Tom Hanks",
                                                          "labels": ["PER"]}}]


def test_boxes_are_in_percent_of_the_image_and_left_out_without_a_size(as_user, admin, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    Image.new("RGB", (200, 50)).save(tmp_path / "b.png")
    project = make_project(admin, name="Boxes", task_type="boxes", labels=["car"])
    box = {"x": 20, "y": 5, "w": 50, "h": 10, "label": "car"}
    add_items(project,
              {"data": {"image": "https://example.org/1.jpg", "width": 400, "height": 100}, **final({"boxes": [box]})},
              {"data": {"image": f"{settings.MEDIA_URL}b.png"}, **final({"boxes": [box]})},
              {"data": {"image": "https://example.org/2.jpg"}, **final({"boxes": [box, box]})})

    sized, uploaded, unknown = tasks_of(as_user(admin), project)

    assert results(sized["annotations"][0]) == [{
        "from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 400,
        "original_height": 100, "image_rotation": 0,
        "value": {"x": 5.0, "y": 5.0, "width": 12.5, "height": 10.0, "rotation": 0, "rectanglelabels": ["car"]}}]
    assert results(uploaded["annotations"][0])[0]["value"]["x"] == 10.0
    assert (results(uploaded["annotations"][0])[0]["original_width"], "boxes_without_size" in uploaded["meta"]) == (
        200, False)
    assert unknown["annotations"][0]["result"] == []
    assert unknown["meta"]["boxes_without_size"] == 2


def test_pairwise_choices_are_left_right_or_none(as_user, admin):
    project = make_project(admin, name="Pairs", task_type="pairwise", labels=[])
    pair = {"prompt": "p", "a": "x", "b": "y"}
    add_items(project, *[{"data": pair, **final({"choice": c})} for c in ("a", "b", "tie")])

    tasks = tasks_of(as_user(admin), project)

    assert [results(t["annotations"][0]) for t in tasks] == [
        [{"from_name": "label", "to_name": "label", "type": "pairwise", "value": {"selected": side}}]
        for side in ("left", "right", "none")]


def test_label_studio_honours_the_filters(as_user, admin, project):
    kept, _ = add_items(project, {"data": {"text": "a"}, **final({"label": "pos"})}, {"data": {"text": "b"}})

    assert [t["id"] for t in tasks_of(as_user(admin), project, only_final="true")] == [kept.pk]


def test_label_studio_of_an_empty_project_is_an_empty_array(as_user, admin, project):
    assert tasks_of(as_user(admin), project) == []
