"""The project statistics endpoint: agreement, truth inference, annotators, routing, model.

Big projects answer from a snapshot (`annotations.stats_snapshot`); `freshness` says how fresh each figure is.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.stats_snapshot import current
from tasks.access import get_project


class StatsView(APIView):
    """Quality figures of a project; any member may read them."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        project = get_project(request.user, pk)
        return Response(current(project))
