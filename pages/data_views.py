"""The data browser page: a project's items as a filtered table with keyset pages and each item's history."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.models import User
from annotations import browse
from annotations.browse_api import BROWSE
from pages.views import _member_project, _screen_config
from tasks.lifecycle import Status
from tasks.models import Membership


@login_required
def data_page(request, pk: int):
    """Reviewers, ML engineers and admins browse the data; the script reads it from /api/projects/<pk>/browse/."""
    project = _member_project(request, pk, BROWSE, "browse a project's data")
    member_ids = Membership.objects.filter(project=project).values("user_id")
    annotators = [{"id": u.pk, "username": u.username}
                  for u in User.objects.filter(pk__in=member_ids).order_by("username")]
    config = _screen_config(
        request, project,
        labels=project.labels if project.task_type in browse.LABEL_TASK_TYPES else [],
    )
    config["choices"] = {
        "status": [s.value for s in Status], "source": list(browse.SOURCES), "annotators": annotators,
    }
    config["limit"] = browse.DEFAULT_LIMIT
    return render(request, "data.html", {"project": project, "config": config})
