"""Who may see and do what in a project. Unknown or unreadable objects are 404, wrong roles 403."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from common.errors import Forbidden, NotFound
from tasks.models import Item, Job, Membership, Project


def is_member(user, project_id: int) -> bool:
    return user.is_admin or Membership.objects.filter(user=user, project_id=project_id).exists()


def get_project(user, project_id) -> Project:
    """The project if the user may read it; 404 otherwise."""
    try:
        project = Project.objects.get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such project.") from None
    if not is_member(user, project.pk):
        raise NotFound("No such project.")
    return project


def get_item(user, item_id, queryset: QuerySet[Item] | None = None) -> Item:
    """The item if the user may read its project; 404 otherwise."""
    try:
        item = (queryset if queryset is not None else Item.objects).select_related("project").get(pk=int(item_id))
    except (Item.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such item.") from None
    if not is_member(user, item.project_id):
        raise NotFound("No such item.")
    return item


def get_job(user, job_id) -> Job:
    """The job if the user started it or may read its project; 404 otherwise."""
    try:
        job = Job.objects.get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such job.") from None
    if job.created_by_id == user.pk or user.is_admin:
        return job
    if job.project_id is None or not is_member(user, job.project_id):
        raise NotFound("No such job.")
    return job


def check_role(user, roles: Iterable[str], action: str) -> None:
    """Raise 403 unless the user is an admin or has one of `roles`."""
    if not user.has_role(*roles):
        raise Forbidden(f"Your role ({user.effective_role}) may not {action}.")
