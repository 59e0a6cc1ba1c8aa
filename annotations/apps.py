from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotations.adaptive import CONFUSION_FIT, describe_fit
        from annotations.stats_snapshot import STATS_SNAPSHOT, SWEEP_SECONDS, describe
        from tasks import jobs

        jobs.register_kind(CONFUSION_FIT, task="annotations.refit_confusion", label="Annotator confusion fit",
                           describe=describe_fit)
        jobs.register_kind(STATS_SNAPSHOT, task="annotations.stats_snapshot", label="Statistics snapshot",
                           describe=describe)
        jobs.register_periodic("stats-snapshots", task="annotations.stats_snapshots_sweep", seconds=SWEEP_SECONDS)
