"""REST endpoints for feedback and rework: reject an annotation, read one's inbox, mark it read."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import rework
from annotations.models import Feedback


class FeedbackSerializer(serializers.ModelSerializer):
    """One entry of an inbox: the rejected value, the reviewer's comment, and the item it is about."""

    item = serializers.IntegerField(source="item_id", read_only=True)
    item_data = serializers.JSONField(source="item.data", read_only=True)
    project = serializers.IntegerField(source="project_id", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    task_type = serializers.CharField(source="project.task_type", read_only=True)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    annotator = serializers.CharField(source="annotator.username", read_only=True)
    value = serializers.JSONField(source="annotation.value", read_only=True, help_text="The rejected value.")
    rework_by = serializers.SerializerMethodField(help_text='"same": leased back to the annotator; "anyone".')

    class Meta:
        model = Feedback
        fields = ["id", "item", "item_data", "project", "project_name", "task_type", "annotator", "reviewer",
                  "comment", "value", "rework_by", "created_at", "read_at", "reworked_at"]

    def get_rework_by(self, obj: Feedback) -> str:
        return "anyone" if obj.rework_by_id is None else "same"


class RejectInputSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=True)
    rework_by = serializers.ChoiceField(choices=["same", "anyone"], default="same")


class ReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=1000,
                                help_text="The entries to mark read; leave out to mark all.")


InboxResponse = inline_serializer("Inbox", {
    "unread": serializers.IntegerField(), "count": serializers.IntegerField(),
    "results": FeedbackSerializer(many=True)})


class RejectView(APIView):
    """Reject an annotation (reviewers): it stops counting, the annotator gets the comment in their inbox, and
    the item goes back for rework to the same annotator (leased to them for a day) or to anyone."""

    @extend_schema(request=RejectInputSerializer, responses={200: FeedbackSerializer, 409: None})
    def post(self, request, pk):
        # 404 and 403 before 400, as everywhere: the body is checked only for those who may reject.
        rework.check_rejecter(request.user, pk)
        serializer = RejectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        feedback = rework.reject(request.user, pk, data["comment"], rework_by_same=data["rework_by"] == "same")
        return Response(FeedbackSerializer(feedback).data)


class InboxView(APIView):
    """The caller's feedback from reviewers, newest first, with how many are unread."""

    @extend_schema(responses=InboxResponse)
    def get(self, request):
        entries = rework.inbox(request.user)
        return Response({
            "unread": entries.filter(read_at__isnull=True).count(),
            "count": entries.count(),
            "results": FeedbackSerializer(entries[:rework.INBOX_LIMIT], many=True).data,
        })


class InboxReadView(APIView):
    """Mark the caller's feedback read: the entries of `ids`, or all of them."""

    @extend_schema(request=ReadInputSerializer,
                   responses=inline_serializer("InboxRead", {"marked": serializers.IntegerField(),
                                                             "unread": serializers.IntegerField()}))
    def post(self, request):
        serializer = ReadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = rework.mark_read(request.user, serializer.validated_data.get("ids"))
        return Response({"marked": marked, "unread": rework.unread_count(request.user)})
