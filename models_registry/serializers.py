from rest_framework import serializers

from models_registry.models import LabelIssue, ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "version", "created", "backend", "labels", "train_size", "holdout_size", "labels_seen",
                  "label_counts", "training_seconds", "metrics", "active", "activated_at", "trigger", "decision",
                  "corrupt", "error", "job"]


class LabelIssueSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(source="item.external_id", read_only=True, allow_null=True)
    data = serializers.JSONField(source="item.data", read_only=True)

    class Meta:
        model = LabelIssue
        fields = ["item", "external_id", "data", "given", "suggested", "given_probability", "suggested_confidence",
                  "rank"]
