import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


def _retrain_if_due(sender, project_id: int, project=None, **kwargs) -> None:
    from models_registry.triggers import after_final_label
    from tasks.models import Project

    if project is None:  # the writer had not loaded it
        project = Project.objects.filter(pk=project_id).first()
    if project is None or project.retrain_every is None:
        return
    try:
        after_final_label(project)
    except Exception:  # the label is saved; a trigger that fails must not fail the request
        log.exception("retrain trigger of project %s failed", project_id)


def _sync_retrain_schedule(sender, project, fields, **kwargs) -> None:
    from models_registry import retrain_schedule

    if "retrain_schedule" in fields:
        retrain_schedule.sync(project)


class ModelsRegistryConfig(AppConfig):
    name = "models_registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from models_registry import job_kinds
        from tasks.signals import human_final_label, project_saved

        job_kinds.register()
        human_final_label.connect(_retrain_if_due, dispatch_uid="retrain-after-labels")
        project_saved.connect(_sync_retrain_schedule, dispatch_uid="retrain-schedule")
