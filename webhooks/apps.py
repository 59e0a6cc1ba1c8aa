from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed, retried deliveries of the platform's events to the URLs a project registers."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from models_registry.signals import model_activated
        from tasks import jobs
        from tasks.signals import item_final, job_finished
        from webhooks import receivers

        item_final.connect(receivers.on_item_final, dispatch_uid="webhooks-item-final")
        model_activated.connect(receivers.on_model_activated, dispatch_uid="webhooks-model-activated")
        job_finished.connect(receivers.on_job_finished, dispatch_uid="webhooks-job-finished")
        jobs.register_periodic("webhooks-sweep", task="webhooks.sweep", seconds=60.0)
