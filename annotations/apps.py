from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotations.adaptive import CONFUSION_FIT, describe_fit
        from tasks import jobs

        jobs.register_kind(CONFUSION_FIT, task="annotations.refit_confusion", label="Annotator confusion fit",
                           describe=describe_fit)
