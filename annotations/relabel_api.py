"""REST endpoints to rename and merge a project's labels (admins), and to count what a change would touch."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from annotations import relabel
from common.errors import Invalid
from tasks.access import check_role, get_project

_COUNTS = inline_serializer("RelabelCounts", {name: serializers.IntegerField() for name in relabel.COUNTED})

RelabelResult = inline_serializer("RelabelResult", {
    "from": serializers.ListField(child=serializers.CharField()),
    "to": serializers.CharField(),
    "labels": serializers.ListField(child=serializers.CharField(), help_text="The project's labels now."),
    "counts": _COUNTS,
    "model_deactivated": serializers.IntegerField(
        allow_null=True, help_text="The active model version deactivated because it predicts a changed label."),
    "retrain_needed": serializers.BooleanField(),
})

RenameRequest = inline_serializer("LabelRename", {
    "from": serializers.CharField(help_text="An existing label."),
    "to": serializers.CharField(help_text="Its new name; an existing label only with `merge`."),
    "merge": serializers.BooleanField(required=False, default=False,
                                      help_text="If `to` is already a label, merge into it instead of refusing."),
})

MergeRequest = inline_serializer("LabelMerge", {
    "from": serializers.ListField(child=serializers.CharField(), help_text="Labels to merge away."),
    "to": serializers.CharField(help_text="The existing label they become."),
})


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise Invalid("Send a JSON object.")
    return request.data


class LabelRenameView(APIView):
    """Rename a label: every annotation, decision, prediction, final value and gold naming it follows."""

    @extend_schema(request=RenameRequest, responses={200: RelabelResult})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "rename labels")
        body = _body(request)
        merge = body.get("merge", False)
        if not isinstance(merge, bool):
            raise Invalid({"merge": ["Must be true or false."]})
        return Response(relabel.rename_label(project, body.get("from"), body.get("to"), user=request.user,
                                             merge=merge))


class LabelMergeView(APIView):
    """Merge labels into an existing one; multi-label values naming both keep it once."""

    @extend_schema(request=MergeRequest, responses={200: RelabelResult})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "merge labels")
        body = _body(request)
        return Response(relabel.merge_labels(project, body.get("from"), body.get("to"), user=request.user))


class LabelUsageView(APIView):
    """How many stored rows name a label: what renaming or merging it would rewrite."""

    @extend_schema(parameters=[OpenApiParameter("label", str, required=True)], responses={200: _COUNTS})
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "count label usage")
        return Response(relabel.label_usage(project, request.query_params.get("label", "")))
