"""REST endpoints of the model registry: train, list, activate, pre-label, routing preview."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from models_registry import services
from models_registry.backends import BackendError
from models_registry.models import LabelIssue, ModelVersion
from models_registry.prelabel import targets
from models_registry.serializers import LabelIssueSerializer, ModelVersionSerializer
from models_registry.triggers import request_training
from tasks import routing
from tasks.access import check_role, get_project, is_member

JobResponse = inline_serializer("ModelJobStarted", {"job": serializers.IntegerField()})
TrainResponse = inline_serializer("TrainingStarted", {"job": serializers.IntegerField(),
                                                      "coalesced": serializers.BooleanField()})
TrainRequest = inline_serializer("TrainingRequest", {"force": serializers.BooleanField(required=False)})


@contextmanager
def _as_validation_error():
    try:
        yield
    except BackendError as exc:
        raise ValidationError({"detail": str(exc)}) from None


class TrainView(APIView):
    """Train a new model version on the project's human final labels (a job).

    A training requested while another one of the project waits to run joins it (`coalesced`).
    With no new labels since the last version the job is skipped with a reason, unless `force`.
    """

    @extend_schema(request=TrainRequest, responses={202: TrainResponse})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "train models")
        force = request.data.get("force", False) if isinstance(request.data, dict) else False
        if not isinstance(force, bool):
            raise ValidationError({"force": ["Must be true or false."]})
        with _as_validation_error():
            requested = request_training(project, trigger="manual", user=request.user, force=force)
        return Response({"job": requested.job.pk, "coalesced": requested.coalesced},
                        status=status.HTTP_202_ACCEPTED)


class PrelabelView(APIView):
    """Score and route every item without a human final value with the active model (a job)."""

    @extend_schema(request=None, responses={202: JobResponse})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "run pre-labeling")
        with _as_validation_error():
            job = services.start_prelabel(project, user=request.user)
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


class ModelListView(generics.ListAPIView):
    """The project's model versions, newest first."""

    serializer_class = ModelVersionSerializer
    pagination_class = None

    def get_queryset(self):
        project = get_project(self.request.user, self.kwargs["pk"])
        return ModelVersion.objects.filter(project=project).order_by("-version")


def _model_version(user, pk) -> ModelVersion:
    mv = ModelVersion.objects.filter(pk=pk).first()
    if mv is None or not is_member(user, mv.project_id):
        raise Http404("No such model.")
    return mv


ActivatedResponse = inline_serializer("ModelActivated", {
    **ModelVersionSerializer().get_fields(), "prelabel_job": serializers.IntegerField()})


def _activated(mv: ModelVersion, job) -> Response:
    return Response({**ModelVersionSerializer(mv).data, "prelabel_job": job.pk})


class ModelDetailView(generics.RetrieveAPIView):
    """One model version with its metrics, calibration, confusion matrix and champion/challenger decision."""

    serializer_class = ModelVersionSerializer

    def get_object(self):
        return _model_version(self.request.user, self.kwargs["pk"])


class ActivateView(APIView):
    """Make a model version the one that pre-labels from now on; the queue is re-scored with it."""

    @extend_schema(request=None, responses={200: ActivatedResponse})
    def post(self, request, pk):
        mv = _model_version(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "activate models")
        with _as_validation_error():
            job = services.activate(mv, user=request.user)
        return _activated(mv, job)


class RollbackView(APIView):
    """Bring back the version that was active before the current one."""

    @extend_schema(request=None, responses={200: ActivatedResponse})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "roll back models")
        with _as_validation_error():
            mv, job = services.rollback(project, user=request.user)
        return _activated(mv, job)


class LabelIssuesView(generics.ListAPIView):
    """Human final values this version, trained without them, finds most likely wrong; worst first."""

    serializer_class = LabelIssueSerializer
    pagination_class = None

    def get_queryset(self):
        mv = _model_version(self.request.user, self.kwargs["pk"])
        check_role(self.request.user, permissions.SEE_ALL_ANNOTATIONS, "see label issues")
        return LabelIssue.objects.filter(model_version=mv).select_related("item").order_by("rank")


def _threshold(request, name: str, default):
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw in ("", "null"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError({name: ["Must be a number between 0 and 1, or null."]}) from None
    if not 0.0 <= value <= 1.0:
        raise ValidationError({name: ["Must be between 0 and 1."]})
    return value


class RoutingPreviewView(APIView):
    """How many items each routing band would hold with the current predictions and these thresholds."""

    @extend_schema(parameters=[OpenApiParameter("auto_accept_threshold", float),
                               OpenApiParameter("escalation_threshold", float),
                               OpenApiParameter("audit_rate", float)],
                   responses=inline_serializer("RoutingPreview", {
                       "predicted": serializers.IntegerField(), "auto_accepted": serializers.IntegerField(),
                       "audit_expected": serializers.IntegerField(), "escalated": serializers.IntegerField(),
                       "normal": serializers.IntegerField()}))
    def get(self, request, pk):
        project = get_project(request.user, pk)
        t = routing.Thresholds.of(project)
        accept = _threshold(request, "auto_accept_threshold", t.auto_accept)
        escalate = _threshold(request, "escalation_threshold", t.escalation)
        audit_rate = _threshold(request, "audit_rate", t.audit_rate) or 0.0
        if accept is not None and escalate is not None and escalate > accept:
            raise ValidationError({"escalation_threshold": ["Must not be above auto_accept_threshold."]})
        t = routing.Thresholds(accept, escalate, audit_rate, t.overlap, t.escalated_overlap)
        conf = np.fromiter(targets(project).filter(confidence__isnull=False, annotation_count=0)
                           .values_list("confidence", flat=True).iterator(chunk_size=20000), dtype=float)
        return Response({"predicted": len(conf), **routing.band_counts(conf, t)})
