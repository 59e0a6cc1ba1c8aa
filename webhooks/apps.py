from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed, retried deliveries of the platform's events to the URLs a project registers."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"
