"""REST endpoints for items with their annotations, submissions and export."""
from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from annotations import review
from annotations.models import Annotation, ReviewDecision
from annotations.quality import quiz_feedback
from annotations.serializers import (
    AnnotationInputSerializer,
    AnnotationSerializer,
    ItemDetailSerializer,
    ReviewDecisionSerializer,
    ValueField,
)
from annotations.services import Submission, submit_locked, undo_annotation
from tasks.access import check_role, get_item, lock_item
from tasks.serializers import ItemSerializer, QueueItemSerializer, final_of

UndoResponse = inline_serializer("Undone", {
    "item": QueueItemSerializer(), "prediction": serializers.JSONField(allow_null=True),
    "value": serializers.JSONField(allow_null=True), "skipped": serializers.BooleanField(),
    "lease_expires_at": serializers.DateTimeField()})


def visible_annotations(user, item):
    """Reviewers, ML engineers and admins see everyone's annotations; annotators their own."""
    qs = Annotation.objects.filter(item=item).select_related("user").order_by("id")
    if user.has_role(*permissions.SEE_ALL_ANNOTATIONS):
        return qs
    return qs.filter(user=user)


class ItemDetailView(APIView):
    """An item with its data, status, prediction, annotations and final value."""

    @extend_schema(responses=ItemDetailSerializer)
    def get(self, request, pk):
        item = get_item(request.user, pk)
        context = {
            "request": request,
            "annotations": visible_annotations(request.user, item),
            "reviews": ReviewDecision.objects.filter(item=item).select_related("reviewer").order_by("id"),
        }
        return Response(ItemDetailSerializer(item, context=context).data)


# The submission's body and answer, each by one serializer whose fields are built once (a serializer deep-copies
# its declared fields when built: a tenth of the view's time for the answer, 4-7% for the body); `run_validation`
# and `to_representation` keep no state, so threads may share them.
_INPUT = AnnotationInputSerializer()
_ANSWER = AnnotationSerializer()


class AnnotationsView(APIView):
    """Submit (or skip) an annotation of an item; list the ones the caller may see."""

    @extend_schema(responses=AnnotationSerializer(many=True))
    def get(self, request, pk):
        item = get_item(request.user, pk)
        return Response(AnnotationSerializer(visible_annotations(request.user, item), many=True).data)

    @extend_schema(request=AnnotationInputSerializer, responses={201: AnnotationSerializer})
    def post(self, request, pk):
        # 404 and 403 before 400, as everywhere: the body is checked only for those who may submit.
        # One transaction from the item's row lock on (`annotations.services.submit_annotation`, with the
        # item read once: it is the membership check too).
        with transaction.atomic():
            item = lock_item(request.user, pk)
            check_role(request.user, permissions.LABEL, "label items")
            annotation = submit_locked(request.user, item, Submission(**_INPUT.run_validation(request.data)))
        body = _ANSWER.to_representation(annotation)
        result = getattr(annotation, "gold_result", None)
        if result is not None and result.quiz:
            # Quiz items are shown as such: the right answer and the guideline teach the annotator.
            body["quiz"] = quiz_feedback(annotation.item, result)
        return Response(body, status=status.HTTP_201_CREATED)


class UndoView(APIView):
    """Take back the caller's annotation of an item (within its lease time); the item is leased back."""

    @extend_schema(request=None, responses={200: UndoResponse, 409: None})
    def post(self, request, pk):
        undone = undo_annotation(request.user, pk)
        return Response({
            "item": QueueItemSerializer(undone.item).data,
            "prediction": undone.item.prediction,
            "value": undone.value,
            "skipped": undone.skipped,
            "lease_expires_at": undone.lease_expires_at,
        })


ReviewTaskResponse = inline_serializer("ReviewTask", {
    "item": ItemSerializer(), "annotations": AnnotationSerializer(many=True),
    "prediction": serializers.JSONField(allow_null=True), "reason": serializers.CharField(),
    "final": serializers.JSONField(allow_null=True), "lease_expires_at": serializers.DateTimeField()})

ReviewInput = inline_serializer("ReviewInput", {
    "value": ValueField(), "note": serializers.CharField(required=False, allow_blank=True)})

ReviewResponse = inline_serializer("Reviewed", {"item": ItemSerializer(), "decision": ReviewDecisionSerializer()})


class ReviewInputSerializer(serializers.Serializer):
    value = serializers.JSONField(required=True, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)


class ReviewNextView(APIView):
    """Lease the caller the oldest in-review item of a project, with everything needed to decide it."""

    @extend_schema(responses={200: ReviewTaskResponse, 204: None})
    def get(self, request, pk):
        task = review.next_for_review(request.user, pk)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        item = task.item
        return Response({
            "item": ItemSerializer(item, context={"request": request}).data,
            "annotations": AnnotationSerializer(task.annotations, many=True).data,
            "prediction": item.prediction,
            "reason": item.review_reason,
            "final": final_of(item, request),
            "lease_expires_at": task.expires_at,
        })


class ReviewView(APIView):
    """Decide an in-review item: the value becomes final with source "reviewer"."""

    @extend_schema(request=ReviewInput, responses={200: ReviewResponse, 409: None})
    def post(self, request, pk):
        # 404 and 403 before 400, as everywhere: the body is checked only for those who may review.
        get_item(request.user, pk)
        check_role(request.user, permissions.REVIEW, "review items")
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = review.do_review(request.user, pk, **serializer.validated_data)
        return Response({
            "item": ItemSerializer(decision.item, context={"request": request}).data,
            "decision": ReviewDecisionSerializer(decision).data,
        })
