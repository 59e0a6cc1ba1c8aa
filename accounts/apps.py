from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals connects the receivers; oidc registers the check of the single sign-on settings.
        from accounts import oidc, signals  # noqa: F401
