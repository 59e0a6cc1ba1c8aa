"""REST endpoints of annotators' standing: who is qualifying, working or paused, and un-pausing."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from accounts.models import User
from tasks import standing
from tasks.access import check_role, get_project
from tasks.models import Standing


class StandingSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    gold_accuracy = serializers.SerializerMethodField()
    accuracy_interval = serializers.SerializerMethodField()

    class Meta:
        model = Standing
        fields = ["user", "username", "state", "quiz_answered", "quiz_correct", "gold_answered", "gold_correct",
                  "gold_accuracy", "accuracy_interval", "last_passed_at", "paused_at", "paused_until",
                  "pause_reason", "updated_at"]

    def get_gold_accuracy(self, s: Standing) -> float | None:
        return round(s.gold_correct / s.gold_answered, 4) if s.gold_answered else None

    def get_accuracy_interval(self, s: Standing) -> list[float] | None:
        """The 95% Wilson interval of the gold accuracy; null before any gold answer."""
        if not s.gold_answered:
            return None
        return [round(x, 4) for x in standing.accuracy_interval(s.gold_correct, s.gold_answered)]


class StandingsView(APIView):
    """Every annotator's standing in the project, paused ones first (admins and reviewers)."""

    @extend_schema(responses=StandingSerializer(many=True))
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.REVIEW, "see annotators' standing")
        rows = sorted(Standing.objects.filter(project=project).select_related("user"),
                      key=lambda s: (s.state != "paused", s.state != "failed", s.user.username))
        return Response(StandingSerializer(rows, many=True).data)


class UnpauseView(APIView):
    """An admin lets a paused annotator go on (or one who failed the quiz take it again)."""

    @extend_schema(request=None, responses=StandingSerializer)
    def post(self, request, pk, user_id):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "un-pause annotators")
        user = get_object_or_404(User, pk=user_id)
        return Response(StandingSerializer(standing.unpause(project, user, by=request.user)).data)
