"""Admins create and edit a project in the browser: one server-rendered form, saved through the services.

Labels typed into the list are added or removed when the form is saved; a saved label is renamed or merged
into another through `annotations.relabel` (the row's Rename and Merge actions call the API at once), so the
stored annotations, predictions and final values follow it. Colours ride along with the rows.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from common import markdown
from common.errors import Invalid
from tasks import services
from tasks.access import check_role
from tasks.models import Project, Strategy, TaskType
from tasks.serializers import ProjectSerializer

# The form's fields besides name and labels; empty means "not set" (null) for the nullable ones.
NUMBER_FIELDS = ("overlap", "auto_accept_threshold", "escalation_threshold", "gold_rate", "retrain_every",
                 "qualification_items", "qualification_pass", "accuracy_floor", "min_seconds_per_item",
                 "streak_length", "streak_max_share", "session_cap", "daily_cap", "posterior_target", "max_overlap")
CHOICE_FIELDS = ("strategy", "consensus_method", "overlap_mode")
# Free text: kept as typed (an empty one means "none", not null).
TEXT_FIELDS = ("name", "instructions", "retrain_schedule")
FORM_FIELDS = ("task_type", *TEXT_FIELDS, *NUMBER_FIELDS, *CHOICE_FIELDS)
CONSENSUS_METHODS = Project._meta.get_field("consensus_method").choices
OVERLAP_MODES = Project._meta.get_field("overlap_mode").choices


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
        values["label_colors"] = data["label_colors"]
    elif project is None:
        values = {name: Project._meta.get_field(name).get_default() for name in FORM_FIELDS}
        values.update(name="", task_type=TaskType.CLASSIFICATION, labels=[], label_colors={})
    else:
        values = {name: getattr(project, name) for name in FORM_FIELDS}
        values["labels"] = list(project.labels)
        values["label_colors"] = dict(project.label_colors or {})
    saved_labels = set(project.labels) if project is not None else set()
    values["label_rows"] = [{"name": name, "color": values["label_colors"].get(name, ""), "saved": name in saved_labels}
                            for name in values["labels"]]
    return render(request, "project_form.html", {
        "project": project, "values": values, "errors": errors, "saved": request.GET.get("saved") == "1",
        "task_types": TaskType.choices, "strategies": Strategy.choices, "consensus_methods": CONSENSUS_METHODS,
        "overlap_modes": OVERLAP_MODES,
    }, status=400 if errors else 200)


def _posted(request, *, editing: bool) -> dict:
    """The serializer's input from the form; label rows left empty are dropped, not refused."""
    post = request.POST
    typed = post.getlist("labels")
    # One colour field per label row ("" = the palette's); the "add a label" field, also named "labels",
    # comes after the rows and has none.
    colors = {name.strip(): color for name, color in zip(typed, post.getlist("label_color")) if name.strip() and color}
    data: dict = {"labels": [s.strip() for s in typed if s.strip()]}
    data["label_colors"] = {k: v for k, v in colors.items() if k in data["labels"]}
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


class InstructionsPreviewView(APIView):
    """The project form's live preview of the instructions: the Markdown rendered and sanitized, as HTML and
    as a tree of elements (which the page builds with createElement, writing no HTML)."""

    @extend_schema(
        request=inline_serializer("InstructionsPreviewRequest", {"text": serializers.CharField(allow_blank=True)}),
        responses={200: inline_serializer("InstructionsPreview", {
            "html": serializers.CharField(), "nodes": serializers.ListField(child=serializers.JSONField())})})
    def post(self, request):
        check_role(request.user, permissions.MANAGE, "edit instructions")
        text = request.data.get("text") if isinstance(request.data, dict) else None
        if not isinstance(text, str):
            raise Invalid({"text": ["Send the Markdown as text."]})
        return Response({"html": markdown.render(text), "nodes": markdown.render_tree(text)})


def _message(value) -> str:
    if isinstance(value, list):
        return " ".join(str(m) for m in value)
    if isinstance(value, dict):
        return " ".join(f"{k}: {_message(v)}" for k, v in value.items())
    return str(value)
