"""The data browser's endpoints: a project's items as filtered keyset pages, and an item's history."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from annotations import browse
from tasks.access import check_role, get_item, get_project
from tasks.lifecycle import Status
from tasks.models import Item
from tasks.serializers import final_of, hide_gold, sees_gold

# Who may browse a project's data: those who see everyone's annotations (reviewers, ML engineers, admins).
BROWSE = permissions.SEE_ALL_ANNOTATIONS

BROWSE_PARAMETERS = [
    OpenApiParameter("status", str, enum=[s.value for s in Status], description="The item's status."),
    OpenApiParameter("source", str, enum=list(browse.SOURCES),
                     description="Who set the final value; `none`: items without one."),
    OpenApiParameter("annotator", int, description="A user id: items this user annotated (skips excluded)."),
    OpenApiParameter("confidence_min", float, description="Model confidence at least this (0–1)."),
    OpenApiParameter("confidence_max", float, description="Model confidence at most this (0–1)."),
    OpenApiParameter("disagreement", str, enum=["1", "0", "true", "false"],
                     description="1: items whose annotators disagreed (in review for `disagreement` or "
                                 "`low_agreement`, or decided by a reviewer for one of those reasons)."),
    OpenApiParameter("label", str, description="The final value has this label (classification, multi-label, "
                                               "spans, boxes)."),
    OpenApiParameter("q", str, description="Full-text search of `data.text` (PostgreSQL: English stemming, "
                                           "\"phrases\", `or`, `-word`; SQLite: substring)."),
    OpenApiParameter("after", int, description="Cursor: the page of items with ids above this (`next`)."),
    OpenApiParameter("before", int, description="Cursor: the page of items with ids below this (`prev`)."),
    OpenApiParameter("limit", int, description=f"Items per page, 1–{browse.MAX_LIMIT} "
                                               f"(default {browse.DEFAULT_LIMIT})."),
]

ROW_FIELDS = {
    "id": serializers.IntegerField(), "external_id": serializers.CharField(allow_null=True),
    "preview": serializers.JSONField(), "status": serializers.CharField(),
    "final": serializers.JSONField(allow_null=True), "confidence": serializers.FloatField(allow_null=True),
    "predicted": serializers.JSONField(allow_null=True), "annotation_count": serializers.IntegerField(),
    "review_reason": serializers.CharField(), "gold": serializers.BooleanField(),
}

BrowseResponse = inline_serializer("BrowsePage", {
    "results": inline_serializer("BrowseRow", ROW_FIELDS, many=True),
    "next": serializers.IntegerField(allow_null=True, help_text="`after` cursor of the next page, or null."),
    "prev": serializers.IntegerField(allow_null=True, help_text="`before` cursor of the previous page, or null."),
    "count": serializers.IntegerField(allow_null=True, help_text=f"Matching items, counted up to "
                                      f"{browse.COUNT_CAP}; null on pages after a cursor (it is the same)."),
    "count_capped": serializers.BooleanField(help_text="There are more than `count`."),
    "count_estimated": serializers.BooleanField(help_text="`count` is PostgreSQL's estimate (a search for "
                                                          "common words), not a count."),
    "filters": serializers.DictField(),
})


def row(item: Item, request) -> dict:
    """One table row of the browser; a gold item is shown as `hide_gold` shows it to the caller."""
    prediction = item.prediction if isinstance(item.prediction, dict) else None
    data = {
        "id": item.pk, "external_id": item.external_id, "preview": browse.preview(item.data),
        "status": item.status, "final": final_of(item, request),
        "confidence": item.confidence,
        "predicted": prediction.get("value") if prediction else None,
        "annotation_count": item.annotation_count, "review_reason": item.review_reason,
        "gold": item.gold is not None and sees_gold(request),
    }
    return hide_gold(item, data, request)


class BrowseView(APIView):
    """A project's items, filtered, in pages of id order with `after` / `before` cursors."""

    @extend_schema(parameters=BROWSE_PARAMETERS, responses={200: BrowseResponse})
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, BROWSE, "browse a project's data")
        filters = browse.parse_filters(project, request.query_params)
        page = browse.browse(project, filters, browse.parse_cursor(request.query_params))
        return Response({
            "results": [row(item, request) for item in page.items],
            "next": page.next, "prev": page.prev, "count": page.count, "count_capped": page.count_capped,
            "count_estimated": page.count_estimated,
            "filters": filters.as_params(),
        })


class ItemHistoryView(APIView):
    """An item with everything that happened to it: annotations, predictions, reviews, audit events."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        item = get_item(request.user, pk)
        check_role(request.user, BROWSE, "browse a project's data")
        body = {"item": {**row(item, request), "data": item.data, "prediction": item.prediction,
                         "needed": item.needed, "created_at": item.created_at.isoformat()}}
        body.update(browse.history(item))
        return Response(body)
