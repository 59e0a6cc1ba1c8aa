"""Admins set a project's live-decision rules in the browser and see its latest decisions.

One server-rendered form, saved through `decisions.services.set_rules` (a clear error per field,
nothing saved on error)."""
from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from common.errors import Invalid
from decisions import services
from decisions.models import Decision, Fallback
from tasks.models import Project

RECENT = 50


@login_required
def decisions_page(request, pk: int):
    if not request.user.is_admin:
        raise PermissionDenied("Only admins set decision rules.")
    project = Project.objects.filter(pk=pk).first()
    if project is None:
        raise PermissionDenied("No such project.")
    errors: dict = {}
    rules = services.rules_body(services.rules_of(project))
    if request.method == "POST":
        body, errors = _posted(request, project)
        if not errors:
            try:
                services.set_rules(project, body, user=request.user)
                return redirect(f"/projects/{project.pk}/decisions/?saved=1")
            except Invalid as exc:
                errors = {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in exc.body().items()}
        rules = {**rules, **body}
    thresholds = rules.get("class_thresholds") or {}
    return render(request, "decisions.html", {
        "project": project, "errors": errors, "saved": request.GET.get("saved") == "1",
        "labels": [(label, thresholds.get(label, "")) for label in project.labels],
        "field_rules": request.POST.get("field_rules") if request.method == "POST"
        else json.dumps(rules.get("field_rules") or [], indent=2),
        "fallback": rules.get("fallback"), "fallbacks": Fallback.choices,
        "default_deadline_seconds": rules.get("default_deadline_seconds"),
        "decisions": Decision.objects.filter(project=project).order_by("-id")[:RECENT],
    }, status=400 if errors else 200)


def _posted(request, project: Project) -> tuple[dict, dict]:
    """The rules from the form; a threshold left empty is no threshold of its own."""
    post = request.POST
    errors: dict = {}
    thresholds = {}
    for label in project.labels:
        raw = post.get(f"threshold-{label}", "").strip()
        if raw:
            try:
                thresholds[label] = float(raw)
            except ValueError:
                errors[f"class_thresholds.{label}"] = "Must be a number between 0 and 1."
    try:
        field_rules = json.loads(post.get("field_rules") or "[]")
    except json.JSONDecodeError as exc:
        errors["field_rules"] = f"Not JSON: {exc.msg} (line {exc.lineno})."
        field_rules = []
    deadline = post.get("default_deadline_seconds", "").strip()
    body = {"class_thresholds": thresholds, "field_rules": field_rules, "fallback": post.get("fallback", ""),
            "default_deadline_seconds": int(deadline) if deadline.isdigit() else deadline}
    return body, errors
