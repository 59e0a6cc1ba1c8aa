"""The import page: files dropped or picked in the browser, previewed by the import's own readers
(`POST /api/projects/<pk>/import/preview/`), then uploaded to the import API with a progress bar."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from accounts import permissions
from dataio.preview import MAX_PARTIAL_BYTES, PREVIEW_RECORDS
from pages.views import _member_project


def _url(name: str, pk: int) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return None


@login_required
def import_page(request, pk: int):
    """Those who may import (admins) drop files, preview the first records and import them."""
    project = _member_project(request, pk, permissions.MANAGE, "import items")
    config = {
        "project": {"id": project.pk, "name": project.name, "task_type": project.task_type,
                    "labels": list(project.labels)},
        "preview_records": PREVIEW_RECORDS,
        "partial_bytes": min(MAX_PARTIAL_BYTES, 1024 * 1024),
        "max_upload": settings.HITL_MAX_UPLOAD,
        "links": {"label": _url("label", pk), "data": _url("data", pk), "dashboard": _url("dashboard", pk)},
    }
    return render(request, "import.html", {"project": project, "config": config})
