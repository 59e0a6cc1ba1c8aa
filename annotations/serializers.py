from __future__ import annotations

from rest_framework import serializers

from annotations.models import Annotation, ReviewDecision
from tasks.models import Item
from tasks.serializers import final_of


class AnnotationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Annotation
        fields = ["id", "item", "user", "user_id", "value", "skipped", "lead_time", "created_at"]


class AnnotationInputSerializer(serializers.Serializer):
    value = serializers.JSONField(required=False, allow_null=True)
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

    def get_annotations(self, item: Item) -> list[dict]:
        return AnnotationSerializer(self.context["annotations"], many=True).data

    def get_reviews(self, item: Item) -> list[dict]:
        return ReviewDecisionSerializer(self.context["reviews"], many=True).data
