"""Shared by the export tests: calling the endpoint and reading what it streams."""
from __future__ import annotations

from django.utils import timezone

from tasks.models import Item


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
