"""Shared by the export tests: calling the endpoint and reading what it streams."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as tz

from django.utils import timezone

from annotations.models import Annotation
from tasks.models import Item, Project
from tests.conftest import make_project

AT = datetime(2024, 5, 2, 9, 30, tzinfo=tz.utc)
PREDICTION = {"model_version": 4, "value": {"label": "neg"}, "confidence": 0.9, "scores": {"pos": 0.1, "neg": 0.9}}


def export(client, project, fmt, **params):
    return client.get(f"/api/projects/{project.pk}/export/", {"format": fmt, **params})


def body_of(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def add_items(project, *specs: dict) -> list[Item]:
    """Items from dicts of their fields (`data` required), in order."""
    return Item.objects.bulk_create([Item(project=project, **{"needed": project.overlap, **spec}) for spec in specs])


def final(value: dict, source: str = "consensus") -> dict:
    """The fields of an item decided with `value`."""
    return {"status": "done", "final_value": value, "final_source": source, "final_at": timezone.now()}


def every_kind_of_item(admin, annotator, annotator2, reviewer) -> Project:
    """Items with every kind of final value, annotations (one skipped), predictions and one still open."""
    project = make_project(admin, [annotator, annotator2, reviewer], name="Original", overlap=2)
    reviewed, _gold, _accepted, open_ = add_items(
        project,
        {"data": {"text": "fine", "source": "web"}, "external_id": "r-1", "status": "done",
         "final_value": {"label": "pos"}, "final_source": "reviewer", "final_by": reviewer, "final_at": AT,
         "annotation_count": 1, "prediction": PREDICTION, "confidence": 0.9},
        {"data": {"text": "gold ☃"}, "external_id": "g-1", "status": "done", "gold": {"label": "neg"},
         "final_value": {"label": "neg"}, "final_source": "gold", "final_at": AT},
        {"data": {"text": "sure"}, "status": "auto_accepted", "final_value": {"label": "neg"}, "final_source": "model",
         "final_at": AT, "prediction": PREDICTION, "confidence": 0.9},
        {"data": {"text": "open"}, "external_id": "o-1", "status": "queued", "annotation_count": 1},
    )
    Annotation.objects.create(project=project, item=reviewed, user=annotator, value={"label": "neg"}, lead_time=4.5)
    Annotation.objects.create(project=project, item=reviewed, user=annotator2, value=None, skipped=True)
    Annotation.objects.create(project=project, item=open_, user=annotator2, value={"label": "pos"}, lead_time=None)
    return project
