"""Shapes of webhooks, deliveries and attempts in the API."""
from __future__ import annotations

from rest_framework import serializers

from webhooks import services
from webhooks.models import Attempt, Delivery, Webhook


class WebhookSerializer(serializers.ModelSerializer):
    """A hook; `secret` only where the view asks for it (on creation, or `?reveal=secret`)."""

    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(), allow_empty=False,
                                   help_text=f"Any of: {', '.join(services.EVENTS)}.")
    secret = serializers.SerializerMethodField(help_text="Shown on creation and with ?reveal=secret (admins).")
    rotate_secret = serializers.BooleanField(write_only=True, required=False, default=False,
                                             help_text="PATCH true for a new secret (shown in the answer).")

    class Meta:
        model = Webhook
        fields = ["id", "project", "url", "events", "active", "created_at", "secret", "rotate_secret"]
        read_only_fields = ["id", "project", "created_at"]

    def get_secret(self, hook: Webhook) -> str | None:
        return hook.secret if self.context.get("reveal_secret") else None

    def validate_url(self, value: str) -> str:
        return _checked(services.check_url, value)

    def validate_events(self, value: list[str]) -> list[str]:
        return _checked(services.check_events, value)


def _checked(check, value):
    try:
        return check(value)
    except services.WebhookError as exc:
        raise serializers.ValidationError(str(exc)) from None


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["at", "status_code", "error", "duration_ms"]


class DeliverySerializer(serializers.ModelSerializer):
    attempt_log = AttemptSerializer(source="attempt_set", many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "webhook", "project", "url", "event", "payload", "delivery_id", "state", "attempts",
                  "next_attempt_at", "created_at", "delivered_at", "attempt_log"]
        read_only_fields = fields


class CallbackSecretSerializer(serializers.Serializer):
    secret = serializers.CharField()
