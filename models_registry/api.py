"""REST endpoints of the model registry: train, list, activate, pre-label, routing preview."""
from __future__ import annotations

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
from models_registry.models import ModelVersion
from models_registry.prelabel import targets
from models_registry.serializers import ModelVersionSerializer
from tasks import routing
from tasks.access import check_role, get_project, is_member

JobResponse = inline_serializer("ModelJobStarted", {"job": serializers.IntegerField()})


def _started(action, project, user) -> Response:
    try:
        job = action(project, user=user)
    except BackendError as exc:
        raise ValidationError({"detail": str(exc)}) from None
    return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


class TrainView(APIView):
    """Train a new model version on the project's final labels (a job)."""

    @extend_schema(request=None, responses={202: JobResponse})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "train models")
        return _started(services.start_training, project, request.user)


class PrelabelView(APIView):
    """Score and route every item without a human final value with the active model (a job)."""

    @extend_schema(request=None, responses={202: JobResponse})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "run pre-labeling")
        return _started(services.start_prelabel, project, request.user)


class ModelListView(generics.ListAPIView):
    """The project's model versions, newest first."""

    serializer_class = ModelVersionSerializer
    pagination_class = None

    def get_queryset(self):
        project = get_project(self.request.user, self.kwargs["pk"])
        return ModelVersion.objects.filter(project=project).order_by("-version")


class ActivateView(APIView):
    """Make a model version the one that pre-labels from now on."""

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    def post(self, request, pk):
        mv = ModelVersion.objects.filter(pk=pk).first()
        if mv is None or not is_member(request.user, mv.project_id):
            raise Http404("No such model.")
        check_role(request.user, permissions.MODEL_OPS, "activate models")
        try:
            mv = services.activate(mv, user=request.user)
        except BackendError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(ModelVersionSerializer(mv).data)


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
