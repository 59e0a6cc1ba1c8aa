"""Admins create and edit a project in the browser: one server-rendered form, saved through the services."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from tasks import services
from tasks.models import Project, Strategy, TaskType
from tasks.serializers import ProjectSerializer

# The form's fields besides name and labels; empty means "not set" (null) for the nullable ones.
NUMBER_FIELDS = ("overlap", "auto_accept_threshold", "escalation_threshold", "gold_rate", "retrain_every")
CHOICE_FIELDS = ("strategy", "consensus_method")
# Free text: kept as typed (an empty one means "none", not null).
TEXT_FIELDS = ("name", "instructions", "retrain_schedule")
FORM_FIELDS = ("task_type", *TEXT_FIELDS, *NUMBER_FIELDS, *CHOICE_FIELDS)
CONSENSUS_METHODS = Project._meta.get_field("consensus_method").choices


@login_required
def project_new(request):
    """An admin creates a project; the creator becomes a member."""
    _check_admin(request)
    return _form(request, None)


@login_required
def project_edit(request, pk: int):
    """An admin changes a project's name, labels and settings (its task type is fixed once created)."""
    _check_admin(request)
    return _form(request, get_object_or_404(Project, pk=pk))


def _check_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only admins create and edit projects.")


def _form(request, project: Project | None) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = _posted(request, editing=project is not None)
        serializer = ProjectSerializer(project, data=data, partial=project is not None)
        if serializer.is_valid():
            if project is None:
                project = services.create_project(user=request.user, **serializer.validated_data)
            else:
                project = services.update_project(project, user=request.user, **serializer.validated_data)
            return redirect(f"/projects/{project.pk}/edit/?saved=1")
        errors = {k: _message(v) for k, v in serializer.errors.items()}
        values = {name: request.POST.get(name, "") for name in FORM_FIELDS}
        values["labels"] = data["labels"]
    elif project is None:
        values = {name: Project._meta.get_field(name).get_default() for name in FORM_FIELDS}
        values.update(name="", task_type=TaskType.CLASSIFICATION, labels=[])
    else:
        values = {name: getattr(project, name) for name in FORM_FIELDS}
        values["labels"] = list(project.labels)
    return render(request, "project_form.html", {
        "project": project, "values": values, "errors": errors, "saved": request.GET.get("saved") == "1",
        "task_types": TaskType.choices, "strategies": Strategy.choices, "consensus_methods": CONSENSUS_METHODS,
    }, status=400 if errors else 200)


def _posted(request, *, editing: bool) -> dict:
    """The serializer's input from the form; label rows left empty are dropped, not refused."""
    post = request.POST
    data: dict = {"labels": [s.strip() for s in post.getlist("labels") if s.strip()]}
    for name in TEXT_FIELDS:
        if name in post:
            data[name] = post[name].strip() if name == "name" else post[name]
    for name in (*NUMBER_FIELDS, *CHOICE_FIELDS):
        if name in post:
            raw = post[name].strip()
            data[name] = raw or None
    if not editing:
        data["task_type"] = post.get("task_type", "")
    return data


def _message(value) -> str:
    if isinstance(value, list):
        return " ".join(str(m) for m in value)
    if isinstance(value, dict):
        return " ".join(f"{k}: {_message(v)}" for k, v in value.items())
    return str(value)
