from __future__ import annotations

import re

from rest_framework import serializers

from accounts.models import Role
from tasks import jobs, questions, schedules
from tasks.models import Item, Job, Project, TaskType
from tasks.values import ValueShapeError

COLOR = re.compile(r"#[0-9a-fA-F]{6}")


# Annotator quality settings (tasks.standing, annotations.quality, annotations.guards, annotations.adaptive).
QUALITY_FIELDS = ("qualification_items", "qualification_pass", "accuracy_floor", "min_seconds_per_item",
                  "streak_length", "streak_max_share", "session_cap", "daily_cap", "overlap_mode",
                  "posterior_target", "max_overlap")
SHARES = ("auto_accept_threshold", "escalation_threshold", "audit_rate", "gold_rate", "consensus_iou",
          "promotion_margin", "qualification_pass", "accuracy_floor", "streak_max_share", "posterior_target")


class ProjectSerializer(serializers.ModelSerializer):
    # Up to one above overlap's maximum: unset, it reads as overlap + 1, and every value shown is accepted.
    escalated_overlap = serializers.IntegerField(min_value=1, max_value=101, required=False, allow_null=True)
    overlap = serializers.IntegerField(min_value=1, max_value=100, required=False)
    lease_seconds = serializers.IntegerField(min_value=10, max_value=7 * 24 * 3600, required=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=True)

    class Meta:
        model = Project
        fields = [
            "id", "name", "task_type", "labels", "label_colors", "instructions", "overlap", "auto_accept_threshold",
            "escalation_threshold", "escalated_overlap", "audit_rate", "consensus_iou", "consensus_method", "strategy",
            "retrain_every", "retrain_schedule", "promotion_margin", "lease_seconds", "model_backend",
            "model_endpoint", "model_timeout", "gold_rate", "questions", "question_spread",
            *QUALITY_FIELDS, "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"instructions": {"required": False}, "label_colors": {"required": False}}

    def to_representation(self, instance: Project) -> dict:
        data = super().to_representation(instance)
        data["escalated_overlap"] = instance.effective_escalated_overlap
        return data

    def _merged(self, attrs: dict, name: str):
        if name in attrs:
            return attrs[name]
        return getattr(self.instance, name) if self.instance is not None else None

    def validate_retrain_schedule(self, spec: str) -> str:
        spec = " ".join((spec or "").split())
        if spec:
            try:
                schedules.parse(spec)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return spec

    def validate_questions(self, value) -> list:
        try:
            return questions.validate_questions(value)
        except ValueShapeError as exc:
            # The path names the question and its field: {"questions": ["questions[1].scale: must be ..."]}.
            raise serializers.ValidationError(str(exc)) from None

    def validate_question_spread(self, value):
        if value is not None and value < 0:
            raise serializers.ValidationError("Must be zero or more (the largest max - min allowed).")
        return value

    def validate_labels(self, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise serializers.ValidationError("Label names must be unique.")
        return labels

    def validate_label_colors(self, value) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object of label -> colour ("#rrggbb").')
        for label, color in value.items():
            if not isinstance(color, str) or not COLOR.fullmatch(color):
                raise serializers.ValidationError(f'{label}: must be a colour written "#rrggbb".')
        return {label: color.lower() for label, color in value.items()}

    def validate(self, attrs: dict) -> dict:
        task_type = self._merged(attrs, "task_type")
        labels = self._merged(attrs, "labels") or []
        colors = self._merged(attrs, "label_colors") or {}
        if "label_colors" in attrs:
            unknown = [k for k in colors if k not in labels]
            if unknown:
                raise serializers.ValidationError({"label_colors": f"{unknown[0]!r} is not one of the labels."})
        elif "labels" in attrs and any(k not in labels for k in colors):
            # A label removed from the list takes its colour with it.
            attrs["label_colors"] = {k: v for k, v in colors.items() if k in labels}
        if task_type not in (TaskType.PAIRWISE, TaskType.RANKING) and not labels:
            raise serializers.ValidationError({"labels": "A project of this task type needs at least one label."})
        if self.instance is not None and "task_type" in attrs and attrs["task_type"] != self.instance.task_type:
            if self.instance.items.exists():
                raise serializers.ValidationError({"task_type": "Cannot change the task type of a project with items."})
        for name in SHARES:
            value = attrs.get(name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise serializers.ValidationError({name: "Must be between 0 and 1."})
        for name in ("audit_rate", "consensus_iou", "promotion_margin", "qualification_pass", "posterior_target"):
            if name in attrs and attrs[name] is None:
                raise serializers.ValidationError({name: "Must be between 0 and 1."})
        accept = self._merged(attrs, "auto_accept_threshold")
        escalate = self._merged(attrs, "escalation_threshold")
        if accept is not None and escalate is not None and escalate > accept:
            raise serializers.ValidationError(
                {"escalation_threshold": "Must not be above auto_accept_threshold."})
        if self._merged(attrs, "model_backend") == "http" and not self._merged(attrs, "model_endpoint"):
            raise serializers.ValidationError({"model_endpoint": "An external model needs its endpoint URL."})
        timeout = attrs.get("model_timeout")
        if timeout is not None and not 0 < timeout <= 600:
            raise serializers.ValidationError({"model_timeout": "Must be between 0 and 600 seconds."})
        if attrs.get("min_seconds_per_item") is not None and attrs["min_seconds_per_item"] < 0:
            raise serializers.ValidationError({"min_seconds_per_item": "Must be zero or more."})
        if (self._merged(attrs, "streak_length") is None) != (self._merged(attrs, "streak_max_share") is None):
            field = "streak_max_share" if self._merged(attrs, "streak_length") is not None else "streak_length"
            raise serializers.ValidationError({field: "Set streak_length and streak_max_share together."})
        if self._merged(attrs, "overlap_mode") == "adaptive" and task_type != TaskType.CLASSIFICATION:
            raise serializers.ValidationError({"overlap_mode": "Adaptive overlap is for classification projects."})
        max_overlap = self._merged(attrs, "max_overlap")
        if max_overlap is not None and not 1 <= max_overlap <= 100:
            raise serializers.ValidationError({"max_overlap": "Must be between 1 and 100."})
        overlap = self._merged(attrs, "overlap") or 1
        escalated = self._merged(attrs, "escalated_overlap")
        if escalated is not None and escalated < overlap:
            raise serializers.ValidationError({"escalated_overlap": "Must be at least overlap."})
        return attrs


class MemberSerializer(serializers.Serializer):
    user = serializers.IntegerField()


class ItemSerializer(serializers.ModelSerializer):
    final = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "external_id", "data", "status", "priority", "needed", "annotation_count",
                  "prediction", "final", "review_reason", "created_at"]

    def get_final(self, item: Item) -> dict | None:
        return final_of(item, self.context.get("request"))

    def to_representation(self, item: Item) -> dict:
        return hide_gold(item, super().to_representation(item), self.context.get("request"))


def sees_gold(request) -> bool:
    """Reviewers, ML engineers and admins may tell gold items; annotators may not (they are scored on them)."""
    return request is None or request.user.has_role(Role.REVIEWER, Role.ML_ENGINEER)


def hide_gold(item: Item, data: dict, request) -> dict:
    """A gold item shown to an annotator looks like any item waiting for annotations (as in `next`)."""
    if item.gold is not None and "status" in data and not sees_gold(request):
        data["status"] = "queued"
    return data


def final_of(item: Item, request=None) -> dict | None:
    """The final value and its provenance, or None; gold answers are kept from annotators."""
    if not item.final_source:
        return None
    if item.final_source == "gold" and not sees_gold(request):
        return None
    return {
        "value": item.final_value,
        "source": item.final_source,
        "by": item.final_by_id,
        "at": item.final_at.isoformat() if item.final_at else None,
    }


def queue_item_data(item: Item) -> dict:
    """What an annotator sees of an item; a gold item looks like any other waiting one.

    A plain dict rather than a serializer's field machinery: `next` builds this on every call."""
    return {"id": item.pk, "external_id": item.external_id, "data": item.data,
            "status": "queued" if item.gold is not None else item.status}


class QueueItemSerializer(serializers.ModelSerializer):
    """`queue_item_data` as a serializer (for the API schema and callers that want one)."""

    class Meta:
        model = Item
        fields = ["id", "external_id", "data", "status"]

    def to_representation(self, item: Item) -> dict:
        return queue_item_data(item)


class JobSerializer(serializers.ModelSerializer):
    trigger = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    def to_representation(self, job: Job) -> dict:
        return super().to_representation(jobs.live(job))

    def get_trigger(self, job: Job) -> str:
        return jobs.trigger_of(job)

    def get_summary(self, job: Job) -> str:
        return jobs.summary(job)

    class Meta:
        model = Job
        fields = ["id", "kind", "state", "progress", "total", "error", "result", "summary", "trigger", "params",
                  "project", "attempts", "created_at", "started_at", "finished_at"]
