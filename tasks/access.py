"""Who may see and do what in a project. Unknown or unreadable objects are 404, wrong roles 403."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from common import prepared
from common.errors import Forbidden, NotFound
from common.rows import Columns
from tasks.models import Item, Job, Membership, Project, Standing


def is_member(user, project_id: int) -> bool:
    return user.is_admin or Membership.objects.filter(user=user, project_id=project_id).exists()


def readable_by(user, queryset: QuerySet, project_field: str) -> QuerySet:
    """`queryset` narrowed to the rows of projects the user may read, in the same query (no separate
    membership look-up on the hot paths: `next` and submissions run this on every request)."""
    if user.is_admin:
        return queryset
    member = Membership.objects.filter(user=user, project_id=OuterRef(project_field))
    return queryset.filter(Exists(member))


def get_project(user, project_id) -> Project:
    """The project if the user may read it; 404 otherwise."""
    try:
        return readable_by(user, Project.objects.all(), "pk").get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such project.") from None


def get_item(user, item_id, queryset: QuerySet[Item] | None = None) -> Item:
    """The item if the user may read its project; 404 otherwise."""
    qs = (queryset if queryset is not None else Item.objects).select_related("project")
    try:
        return readable_by(user, qs, "project_id").get(pk=int(item_id))
    except (Item.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such item.") from None


# ------------------------------------------------------------------ the labeling loop's look-ups
# `next` and a submission run these on every call. They are one plain statement each: compiling the
# equivalent ORM queries (select_related, Exists, Subquery) cost the worker more than the database's answer.


# The columns of an item under alias `i` and of a project under `p`, for plain statements (`tasks.queue` too).
ITEM_COLUMNS = Columns(Item, "i")
_PROJECT = Columns(Project, "p")
_MEMBER = "AND EXISTS (SELECT 1 FROM tasks_membership m WHERE m.project_id = p.id AND m.user_id = %(user)s)"


def _id(value, what: str) -> int:
    """A primary key from the URL; 404 for anything no row can have (the ORM does the same for `.get`)."""
    try:
        number = int(value)
    except (ValueError, TypeError):
        raise NotFound(f"No such {what}.") from None
    low, high = connection.ops.integer_field_range("BigAutoField")
    if not low <= number <= high:
        raise NotFound(f"No such {what}.")
    return number


def _one(sql: str, params: dict, user) -> tuple | None:
    with connection.cursor() as cur:
        prepared.execute(cur, sql.format(member="" if user.is_admin else _MEMBER), params)
        return cur.fetchone()


def get_project_for_labeling(user, project_id) -> Project:
    """`get_project` with the user's standing state read in the same statement (`standing_state`,
    `standing_user`: what `tasks.standing.gate` looks for, so that it needs no query for an active annotator)."""
    params = {"project": _id(project_id, "project"), "user": user.pk}
    row = _one(f"""SELECT {_PROJECT.sql}, (SELECT s.state FROM {Standing._meta.db_table} s
                   WHERE s.project_id = p.id AND s.user_id = %(user)s)
                   FROM tasks_project p WHERE p.id = %(project)s {{member}}""", params, user)
    if row is None:
        raise NotFound("No such project.")
    project = _PROJECT.load(row[:len(_PROJECT)])
    project.standing_state, project.standing_user = row[len(_PROJECT)], user.pk
    return project


def lock_item(user, item_id) -> Item:
    """The item, with its project, if the user may read the project (404 otherwise), locked for the rest of the
    current transaction (on PostgreSQL; SQLite runs one writing transaction at a time)."""
    params = {"item": _id(item_id, "item"), "user": user.pk}
    lock = "FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
    row = _one(f"""SELECT {ITEM_COLUMNS.sql}, {_PROJECT.sql}
                   FROM tasks_item i JOIN tasks_project p ON p.id = i.project_id
                   WHERE i.id = %(item)s {{member}} {lock}""", params, user)
    if row is None:
        raise NotFound("No such item.")
    item = ITEM_COLUMNS.load(row[:len(ITEM_COLUMNS)])
    item.project = _PROJECT.load(row[len(ITEM_COLUMNS):])
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
