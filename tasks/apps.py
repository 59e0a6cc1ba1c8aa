from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from tasks import jobs, receivers  # noqa: F401  (receivers connects its signal handlers)

        jobs.register_periodic("release-expired-leases", task="tasks.release_expired_leases", seconds=60.0)
        jobs.register_periodic("requeue-stalled-jobs", task="tasks.requeue_stalled_jobs", seconds=60.0)

        # The embedded broker keeps its messages in folders that must exist before anyone
        # publishes or consumes.
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            import os

            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                os.makedirs(options[key], exist_ok=True)
