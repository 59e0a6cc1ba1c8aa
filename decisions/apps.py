from django.apps import AppConfig


class DecisionsConfig(AppConfig):
    """Live decisions: a running system asks, the rules or a person answer within a deadline."""

    name = "decisions"
    default_auto_field = "django.db.models.BigAutoField"
