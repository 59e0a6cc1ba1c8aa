"""REST endpoints of live decisions: ask one, poll it."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from decisions import services
from tasks.access import check_role, get_project


class DecisionsView(APIView):
    """Ask for a decision: decided at once (201, "decided") when the project's rules accept the prediction,
    else pending (202) until a person answers or the deadline's fallback decides."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "ask for decisions")
        decision = services.ask(project, request.user, request.data)
        code = status.HTTP_201_CREATED if decision.status == "decided" else status.HTTP_202_ACCEPTED
        return Response(services.answer(decision), status=code)


class DecisionDetailView(APIView):
    """A decision as it is now: status, value, path, decided_at, decided_by."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        decision = services.get_decision(request.user, pk)
        check_role(request.user, permissions.MODEL_OPS, "read decisions")
        return Response(services.answer(decision))


class DecisionRulesView(APIView):
    """The project's rules for live decisions: thresholds per class, rules on metadata fields, the fallback
    at the deadline and the default deadline. Members read them; admins change them (PATCH: the fields given)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        project = get_project(request.user, pk)
        return Response(services.rules_body(services.rules_of(project)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "change decision rules")
        return Response(services.rules_body(services.set_rules(project, request.data, user=request.user)))
