from rest_framework import serializers

from models_registry.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "version", "created", "backend", "labels", "train_size", "training_seconds", "metrics",
                  "active", "job"]
