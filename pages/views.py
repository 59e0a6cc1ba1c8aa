"""Pages outside the API: home, the labeling, review, dashboard and models screens, health, media."""
from __future__ import annotations

import json
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.static import serve
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.views import APIView

from accounts import permissions
from annotations.models import Annotation
from annotations.stats_snapshot import current as current_stats
from dataio.readers.images import IMAGE_EXTENSIONS
from models_registry import job_kinds
from models_registry import services as model_services
from models_registry.backends import BackendError
from models_registry.learners import LEARNERS
from models_registry.models import LabelIssue, ModelVersion
from models_registry.training import check_can_train
from pages import charts
from tasks import jobs, questions, services
from tasks.access import is_member
from tasks.models import Item, Job, Project, Standing, Strategy
from tasks.serializers import ProjectSerializer
from tasks.standing_api import StandingSerializer


@login_required
def home(request):
    """The caller's projects with their progress: done / total, and my annotations today."""
    projects = list(Project.objects.visible_to(request.user).order_by("id"))
    ids = [p.pk for p in projects]
    # Two counts, each one index's: all items (`item_browse_id`), the finished ones (`item_past_queue`, which
    # holds no labelable item).
    items = Item.objects.filter(project_id__in=ids)
    total, done = (dict(qs.values("project_id").annotate(n=Count("id")).values_list("project_id", "n"))
                   for qs in (items, items.finished()))
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = dict(
        Annotation.objects.filter(user=request.user, project_id__in=ids, created_at__gte=midnight)
        .values("project_id").annotate(n=Count("id")).values_list("project_id", "n")
    )
    can_label = request.user.has_role(*permissions.LABEL)
    rows = []
    for p in projects:
        t, d = total.get(p.pk, 0), done.get(p.pk, 0)
        rows.append({"project": p, "total": t, "done": d, "today": today.get(p.pk, 0),
                     "percent": round(100 * d / t) if t else 0})
    return render(request, "home.html", {"rows": rows, "can_label": can_label})


@login_required
def label(request, pk: int):
    """The labeling screen of a project; members who may label only."""
    project = _member_project(request, pk, permissions.LABEL, "label items")
    config = _screen_config(request, project, labels=project.labels, instructions=project.instructions,
                            questions=questions.validate_questions(project.questions))
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
    }


@login_required
def review(request, pk: int):
    """The review screen of a project: reviewers (and admins) adjudicate items in review."""
    project = _member_project(request, pk, permissions.REVIEW, "review items")
    # The same fields as the labeling screen's: the review edits values with the labeling widgets.
    config = _screen_config(request, project, labels=project.labels)
    return render(request, "review.html", {"project": project, "config": config})


@login_required
def dashboard(request, pk: int):
    """A project's quality figures as tables and server-rendered SVG charts; any member."""
    project = _member_project(request, pk)
    stats = current_stats(project)  # a snapshot for big projects (see annotations.stats_snapshot)
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
    standings = StandingSerializer(Standing.objects.filter(project=project).select_related("user")
                                   .order_by("user__username"), many=True).data
    return render(request, "dashboard.html", {
        "project": project, "stats": stats, "kappas": kappas, "standings": standings,
        "stopped": [s for s in standings if s["state"] in ("paused", "failed")],
        "can_review": request.user.has_role(*permissions.REVIEW),
        "agreement_chart": agreement_chart, "confusion_chart": confusion_chart, "status_chart": status_chart,
    })



@login_required
def models_page(request, pk: int):
    """An ML engineer's view of the model versions: metrics side by side, learning curve, calibration,
    per-class figures, confusion and likely label errors of one version (`?version=N`, else the active one)."""
    project = _member_project(request, pk, permissions.MODEL_OPS, "see models")
    versions = list(ModelVersion.objects.filter(project=project).order_by("-version"))
    shown = _inspected_version(versions, request.GET.get("version"))
    headline = _headline(project)
    for mv in versions:
        mv.headline_scores = [(mv.metrics or {}).get(key) for key, _ in headline]
    return render(request, "models.html", {
        "project": project, "versions": versions, "shown": shown, "headline": headline,
        "learning_chart": _learning_chart(versions, headline), **_version_details(shown),
        "jobs": [_job_row(job) for job in Job.objects.filter(
            project=project, kind__in=[job_kinds.TRAIN, job_kinds.PRELABEL]).order_by("-id")[:MODEL_JOBS_SHOWN]],
        "jobs_limit": MODEL_JOBS_SHOWN, "rollback_to": model_services.rollback_target(project),
        "train_blocked": _train_blocked(project),
    })


# Training and pre-labeling jobs listed on the models page (the script polls the same number).
MODEL_JOBS_SHOWN = 10


def _inspected_version(versions: list[ModelVersion], wanted: str | None) -> ModelVersion | None:
    """The version asked for, else the active one, else the newest; 404 for one the project lacks."""
    if wanted:
        match = next((mv for mv in versions if str(mv.version) == wanted.strip()), None)
        if match is None:
            raise Http404("No such model version.")
        return match
    return next((mv for mv in versions if mv.active), versions[0] if versions else None)


def _train_blocked(project: Project) -> str:
    """Why this project cannot train the built-in model, or "" if it can."""
    try:
        check_can_train(project)
    except BackendError as exc:
        return str(exc)
    return ""


# How the models page names each metric a task type's learner reports.
METRIC_TITLES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "ece": "ECE", "f1": "span F1",
                 "precision": "precision", "recall": "recall", "log_loss": "log-loss", "map50": "mAP@0.5"}
# Metrics where higher is better, in [0, 1]: the learning curve draws these.
_SCORES = ("accuracy", "macro_f1", "f1", "precision", "recall", "map50")


def _headline(project: Project) -> list[tuple[str, str]]:
    """The (metric, title) columns of the project's task type, the deciding metric first."""
    learner = LEARNERS.get(project.task_type)
    keys = learner.headline if learner is not None else ("accuracy", "macro_f1", "ece")
    return [(key, METRIC_TITLES.get(key, key)) for key in keys]


def _learning_chart(versions: list[ModelVersion], headline: list[tuple[str, str]]) -> str:
    """The held-out scores of every version against its number of training labels."""
    ordered = [mv for mv in reversed(versions) if mv.metrics]
    lines = [(title, key) for key, title in headline if key in _SCORES][:2]
    return charts.line_chart(
        [(title, [(mv.train_size, mv.metrics.get(key), f"v{mv.version}") for mv in ordered]) for title, key in lines],
        f"Learning curve: held-out {' and '.join(title for title, _ in lines)} against training labels",
        x_title="training labels", y_title="score", y_max=1.0)


def _version_details(mv: ModelVersion | None) -> dict:
    """Calibration, per-class rows, confusion and label issues of one version, for the template."""
    if mv is None:
        return {}
    m = mv.metrics or {}
    per_class = m.get("per_class") or {}
    confusion = m.get("confusion") or {}
    names, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    mistakes = sorted(((matrix[i][j], names[i], names[j]) for i in range(len(matrix)) for j in range(len(matrix[i]))
                       if i != j and matrix[i][j]), key=lambda t: -t[0])
    issues = [_issue_row(issue) for issue in LabelIssue.objects.filter(model_version=mv)
              .select_related("item").order_by("rank")]
    return {
        "calibration_chart": charts.calibration_chart(m.get("calibration") or [],
                                                      f"Calibration of version {mv.version}"),
        "confusion_chart": charts.heatmap(names, matrix, f"Confusion of version {mv.version}",
                                          row_title="human", col_title="model") if names else "",
        "mistakes": [{"count": n, "human": a, "model": b} for n, a, b in mistakes[:8]],
        "per_class": [{"label": label, **per_class[label], "trained_on": (mv.label_counts or {}).get(label)}
                      for label in _label_order(mv.labels, per_class)],
        "per_class_f1": any("f1" in row for row in per_class.values()),
        "per_class_ap": any("ap" in row for row in per_class.values()),
        "issues": issues,
    }


def _label_order(labels: list, keyed: dict) -> list:
    """The keys of `keyed` in the project's label order (a JSON object's own order is not kept)."""
    return [x for x in labels if x in keyed] + sorted(x for x in keyed if x not in labels)


def _issue_row(issue: LabelIssue) -> dict:
    """A likely label error with a preview of its item: its text, or its image if the URL is plain."""
    data = issue.item.data if isinstance(issue.item.data, dict) else {}
    image = data.get("image")
    safe_image = isinstance(image, str) and (image.startswith(("/", "https://", "http://"))
                                             and not image.startswith("//"))
    text = data.get("text")
    if not isinstance(text, str):
        text = "" if safe_image else json.dumps(data)[:300]
    return {"rank": issue.rank, "item": issue.item_id, "external_id": issue.item.external_id, "text": text,
            "image": image if safe_image else "", "given": _value_text(issue.given),
            "suggested": _value_text(issue.suggested), "given_probability": _percent(issue.given_probability),
            "suggested_confidence": _percent(issue.suggested_confidence)}


def _percent(p: float) -> str:
    """A probability as a whole percentage that never rounds to a certainty it is not."""
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{p:.0%}"


def _value_text(value) -> str:
    """A classification or multi-label value as the labels it names."""
    if isinstance(value, dict) and "label" in value:
        return str(value["label"])
    if isinstance(value, dict) and isinstance(value.get("labels"), list):
        return ", ".join(str(x) for x in value["labels"]) or "(none)"
    return json.dumps(value)


def _job_row(job: Job) -> dict:
    """A job as the models page shows it (the same words as the jobs API, which models.js polls)."""
    return {"id": job.pk, "kind": job.kind, "kind_name": jobs.label_of(job.kind), "state": job.state,
            "progress": job.progress, "total": job.total, "trigger": jobs.trigger_of(job),
            "note": jobs.summary(job)}


SETTINGS_FIELDS = ("auto_accept_threshold", "escalation_threshold", "escalated_overlap", "audit_rate", "overlap",
                   "strategy", "retrain_every", "retrain_schedule", "promotion_margin", "lease_seconds",
                   "instructions")
# Free-text fields: kept as typed (an empty one means "none", not null).
TEXT_FIELDS = ("instructions", "retrain_schedule")


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
        for name in TEXT_FIELDS:
            if name in data or name in request.POST:
                data[name] = request.POST[name]
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
        "strategies": Strategy.choices, "deciding_metric": _headline(project)[0][1],
    }, status=400 if errors else 200)


def _form_value(raw: str | None):
    """Empty form fields mean "not set" (null)."""
    return None if raw is None or raw.strip() == "" else raw.strip()


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"ok": True})


class MediaView(APIView):
    """Uploaded media (images) for signed-in users, by session or API token.

    MEDIA_ROOT also holds trained models and stored import files, which are never served; an image is
    served to admins, and to members of a project that has an item showing it. `serve` keeps the
    path inside MEDIA_ROOT (".." and absolute paths are refused).
    """

    schema = None  # not part of the public API

    def get(self, request, path: str):
        if PurePosixPath(path).suffix.lower() not in IMAGE_EXTENSIONS:
            raise Http404("No such image.")
        if not request.user.is_admin:
            # Unindexed JSON lookup, but only over the caller's projects' items, and EXISTS stops at the first.
            url = f"{settings.MEDIA_URL}{path}"
            if not Item.objects.visible_to(request.user).filter(data__image=url).exists():
                raise Http404("No such image.")
        return serve(request, path, document_root=settings.MEDIA_ROOT)


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI at /api/docs/, from drf-spectacular-sidecar's static files, its start script carrying
    the page's CSP nonce (the Content-Security-Policy allows no other inline script)."""

    template_name = "api_docs.html"
