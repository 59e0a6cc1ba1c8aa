"""The export page: a form whose plain GET goes to the streaming export API, so the browser downloads."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts import permissions
from dataio import export
from dataio.export.filters import TIES
from pages.views import _member_project
from tasks.models import FinalSource, ItemStatus


@login_required
def export_page(request, pk: int):
    """Members who may export choose a format and filters; the form submits to /api/projects/<pk>/export/."""
    project = _member_project(request, pk, permissions.EXPORT, "export data")
    formats = [f for f in export.FORMATS.values() if not f.task_types or project.task_type in f.task_types]
    return render(request, "export.html", {
        "project": project, "formats": formats, "statuses": ItemStatus.choices, "sources": FinalSource.choices,
        "ties": TIES, "has_preference": any(f.name == "preference" for f in formats),
    })
