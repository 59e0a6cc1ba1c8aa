"""Round trip: a project exported and imported into a new project exports the same again."""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotations.models import Annotation
from tasks.models import Project
from tests.conftest import make_project
from tests.dataio.export_helpers import AT, add_items, body_of, every_kind_of_item, export

pytestmark = pytest.mark.django_db


@pytest.fixture
def original(admin, annotator, annotator2, reviewer):
    return every_kind_of_item(admin, annotator, annotator2, reviewer)


def round_trip(client, project: Project, fmt: str) -> tuple[list[dict], list[dict]]:
    """The JSONL records of `project`, and of a new project into which its `fmt` export was imported."""
    copy = make_project(project.created_by, list(project.members.exclude(pk=project.created_by_id)), name="Copy",
                        overlap=project.overlap)
    r = client.post(f"/api/projects/{copy.pk}/import/",
                    {"file": SimpleUploadedFile(f"export.{fmt}", body_of(export(client, project, fmt)).encode())},
                    format="multipart")
    assert r.status_code == 201, r.content
    return records(client, project), records(client, copy)


def records(client, project: Project) -> list[dict]:
    return [json.loads(line) for line in body_of(export(client, project, "jsonl")).splitlines()]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_export_then_import_loses_nothing(as_user, admin, original, fmt):
    before, after = round_trip(as_user(admin), original, fmt)

    if fmt == "csv":
        # A CSV cell has no type: the model version 4 comes back as "4".
        for r in before:
            if r["prediction"]:
                r["prediction"]["model_version"] = str(r["prediction"]["model_version"])
    # "id" is new; "reviews", "review_reason" and "created_at" belong to the project that made the decisions.
    for key in ("external_id", "data", "gold", "final", "annotations", "prediction", "status", "needed"):
        assert [r[key] for r in after] == [r[key] for r in before], key


@pytest.mark.parametrize(("task_type", "labels", "data", "value"), [
    ("spans", ["PER"], {"text": "By Tom Hanks"}, {"spans": [{"start": 3, "end": 12, "label": "PER"}]}),
    ("boxes", ["car"], {"image": "https://example.org/1.jpg", "width": 640, "height": 480},
     {"boxes": [{"x": 10, "y": 20, "w": 30.5, "h": 40, "label": "car"}]}),
    ("pairwise", [], {"prompt": "p", "a": "x", "b": "y"}, {"choice": "tie"}),
    ("multi_label", ["a", "b"], {"text": "t"}, {"labels": ["a", "b"]}),
])
def test_label_studio_export_imports_back(as_user, admin, annotator, reviewer, task_type, labels, data, value):
    project = make_project(admin, [annotator, reviewer], name="LS", task_type=task_type, labels=labels)
    [item] = add_items(project, {"data": data, "external_id": "x", "status": "done", "final_value": value,
                                 "final_source": "reviewer", "final_by": reviewer, "final_at": AT,
                                 "annotation_count": 1})
    Annotation.objects.create(project=project, item=item, user=annotator, value=value, lead_time=1.5)
    client = as_user(admin)
    copy = make_project(admin, [annotator, reviewer], name="Copy", task_type=task_type, labels=labels)

    body = body_of(export(client, project, "label_studio")).encode()
    r = client.post(f"/api/projects/{copy.pk}/import/?format=label_studio&labels_as=annotations",
                    {"file": SimpleUploadedFile("tasks.json", body)}, format="multipart")

    assert r.status_code == 201, r.content
    [before], [after] = records(client, project), records(client, copy)
    for key in ("external_id", "data", "final"):
        assert after[key] == before[key], key
    assert [(a["user"], a["value"], a["lead_time"]) for a in after["annotations"]] == [("ann", value, 1.5)]
