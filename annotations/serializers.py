from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.models import Annotation, ReviewDecision
from tasks.models import Item
from tasks.serializers import final_of, hide_gold


class AnnotationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Annotation
        fields = ["id", "item", "user", "user_id", "value", "skipped", "lead_time", "created_at"]


def _shape(title: str, key: str, schema: dict) -> dict:
    return {"title": title, "type": "object", "properties": {key: schema}, "required": [key]}


def _parts(**fields: dict) -> dict:
    return {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"}, **fields},
                                       "required": [*fields, "label"]}}


_NUMBER = {"type": "number"}
# The value shapes of API.md ("Labeling"), one per task type; which one applies depends on the project.
VALUE_SHAPES = [
    _shape("classification", "label", {"type": "string"}),
    _shape("multi_label", "labels", {"type": "array", "items": {"type": "string"}}),
    _shape("spans", "spans", _parts(start={"type": "integer", "minimum": 0}, end={"type": "integer", "minimum": 1})),
    _shape("boxes", "boxes", _parts(x=_NUMBER, y=_NUMBER, w=_NUMBER, h=_NUMBER)),
    _shape("pairwise", "choice", {"type": "string", "enum": ["a", "b", "tie"]}),
    _shape("ranking", "ranking", {"type": "array", "description": "groups of tied response ids, best first",
                                  "items": {"type": "array", "items": {"type": "string"}}}),
]


@extend_schema_field({"description": "A label value, shaped by the project's task type.", "anyOf": VALUE_SHAPES})
class ValueField(serializers.JSONField):
    """A labeling value (checked against the project by `tasks.values`); documented by its shapes."""


class AnnotationInputSerializer(serializers.Serializer):
    value = ValueField(required=False, allow_null=True)
    skip = serializers.BooleanField(required=False, default=False)
    lead_time = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=7 * 24 * 3600)


class ReviewDecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = ReviewDecision
        fields = ["id", "reviewer", "value", "note", "reason", "created_at"]


class ItemDetailSerializer(serializers.ModelSerializer):
    final = serializers.SerializerMethodField()
    annotations = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "project", "external_id", "data", "status", "priority", "needed", "annotation_count",
                  "prediction", "final", "review_reason", "annotations", "reviews", "created_at", "updated_at"]

    def get_final(self, item: Item) -> dict | None:
        return final_of(item, self.context.get("request"))

    def to_representation(self, item: Item) -> dict:
        return hide_gold(item, super().to_representation(item), self.context.get("request"))

    def get_annotations(self, item: Item) -> list[dict]:
        return AnnotationSerializer(self.context["annotations"], many=True).data

    def get_reviews(self, item: Item) -> list[dict]:
        return ReviewDecisionSerializer(self.context["reviews"], many=True).data
