"""Pages outside the API: home, the labeling, review and dashboard screens, health, media."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.static import serve
from rest_framework.views import APIView

from accounts import permissions
from annotations.models import Annotation
from annotations.stats import project_stats
from hitl import charts
from tasks import services
from tasks.access import is_member, visible_projects
from tasks.models import Item, ItemStatus, Project, Strategy
from tasks.serializers import ProjectSerializer


@login_required
def home(request):
    """The caller's projects with their progress: done / total, and my annotations today."""
    projects = list(visible_projects(request.user).order_by("id"))
    ids = [p.pk for p in projects]
    counts = {
        row["project_id"]: row
        for row in Item.objects.filter(project_id__in=ids).values("project_id").annotate(
            total=Count("id"), done=Count("id", filter=Q(status__in=[ItemStatus.DONE, ItemStatus.AUTO_ACCEPTED])),
        )
    }
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = dict(
        Annotation.objects.filter(user=request.user, project_id__in=ids, created_at__gte=midnight)
        .values("project_id").annotate(n=Count("id")).values_list("project_id", "n")
    )
    can_label = request.user.has_role(*permissions.LABEL)
    rows = []
    for p in projects:
        c = counts.get(p.pk, {"total": 0, "done": 0})
        rows.append({"project": p, "total": c["total"], "done": c["done"], "today": today.get(p.pk, 0),
                     "percent": round(100 * c["done"] / c["total"]) if c["total"] else 0})
    return render(request, "home.html", {"rows": rows, "can_label": can_label})


@login_required
def label(request, pk: int):
    """The labeling screen of a project; members who may label only."""
    project = _member_project(request, pk, permissions.LABEL, "label items")
    config = _screen_config(request, project, labels=project.labels, instructions=project.instructions)
    config["lease_seconds"] = project.lease_seconds
    return render(request, "label.html", {"project": project, "config": config})


def _member_project(request, pk: int, roles=None, action: str = "") -> Project:
    """The project for a page, or a 403 page: non-members, unknown projects, roles without `action`."""
    project = Project.objects.filter(pk=pk).first()
    if project is None or not is_member(request.user, project.pk):
        raise PermissionDenied("You are not a member of this project.")
    if roles is not None and not request.user.has_role(*roles):
        raise PermissionDenied(f"Your role ({request.user.effective_role}) does not {action}.")
    return project


def _screen_config(request, project: Project, **project_fields) -> dict:
    """What a screen's script needs to know, emitted with `json_script`."""
    return {
        "project": {"id": project.pk, "name": project.name, "task_type": project.task_type, **project_fields},
        "user": {"id": request.user.pk, "username": request.user.username, "role": request.user.effective_role},
        "api": "/api",
    }


@login_required
def review(request, pk: int):
    """The review screen of a project: reviewers (and admins) adjudicate items in review."""
    project = _member_project(request, pk, permissions.REVIEW, "review items")
    labels = ["a", "b", "tie"] if project.task_type == "pairwise" else list(project.labels or [])
    config = _screen_config(request, project, labels=labels)
    return render(request, "review.html", {"project": project, "config": config})


@login_required
def dashboard(request, pk: int):
    """A project's quality figures as tables and server-rendered SVG charts; any member."""
    project = _member_project(request, pk)
    stats = project_stats(project)
    annotators = stats["annotators"]
    agreement_chart = charts.bar_chart(
        [(a["username"], a["agreement_with_final"]) for a in annotators],
        "Agreement of each annotator with final values", max_value=1.0, percent=True)
    confusion = stats.get("confusion")
    confusion_chart = (charts.heatmap(confusion["labels"], confusion["matrix"],
                                      "Confusion: annotator labels against final values")
                       if confusion else "")
    status_chart = charts.bar_chart(list(stats["counts"].items()), "Items by status", color="#1a7f37")
    kappas = (stats.get("agreement") or {}).get("cohen_kappa") or []
    return render(request, "dashboard.html", {
        "project": project, "stats": stats, "kappas": kappas,
        "can_review": request.user.has_role(*permissions.REVIEW),
        "agreement_chart": agreement_chart, "confusion_chart": confusion_chart, "status_chart": status_chart,
    })


SETTINGS_FIELDS = ("auto_accept_threshold", "escalation_threshold", "escalated_overlap", "audit_rate", "overlap",
                   "strategy", "retrain_every", "lease_seconds", "instructions")


@login_required
def project_settings(request, pk: int):
    """Admins set routing thresholds, previewing how many items each band would hold."""
    project = Project.objects.filter(pk=pk).first()
    if project is None or not request.user.is_admin:
        raise PermissionDenied("Only admins change project settings.")
    errors: dict = {}
    saved = False
    if request.method == "POST":
        data = {name: _form_value(request.POST.get(name)) for name in SETTINGS_FIELDS if name in request.POST}
        if "instructions" in data:
            data["instructions"] = request.POST["instructions"]
        serializer = ProjectSerializer(project, data=data, partial=True)
        if serializer.is_valid():
            project = services.update_project(project, user=request.user, **serializer.validated_data)
            saved = True
        else:
            errors = {k: " ".join(str(m) for m in v) if isinstance(v, list) else str(v)
                      for k, v in serializer.errors.items()}
    values = {name: getattr(project, name) for name in SETTINGS_FIELDS}
    if request.method == "POST" and errors:
        values.update({k: request.POST.get(k, "") for k in SETTINGS_FIELDS if k in request.POST})
    return render(request, "project_settings.html", {
        "project": project, "values": values, "errors": errors, "saved": saved,
        "strategies": Strategy.choices,
    }, status=400 if errors else 200)


def _form_value(raw: str | None):
    """Empty form fields mean "not set" (null)."""
    return None if raw is None or raw.strip() == "" else raw.strip()


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"ok": True})


class MediaView(APIView):
    """Uploaded media (images) for signed-in users, by session or API token."""

    schema = None  # not part of the public API

    def get(self, request, path: str):
        return serve(request, path, document_root=settings.MEDIA_ROOT)
