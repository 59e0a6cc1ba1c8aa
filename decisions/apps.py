from django.apps import AppConfig

# How often beat's sweep applies the deadlines' fallbacks (a deadline is met within this much).
SWEEP_SECONDS = 5.0


class DecisionsConfig(AppConfig):
    """Live decisions: a running system asks, the rules or a person answer within a deadline."""

    name = "decisions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from decisions import receivers
        from tasks import jobs
        from tasks.signals import human_final_label

        human_final_label.connect(receivers.on_human_final, dispatch_uid="decisions-answered")
        jobs.register_periodic("decisions-sweep", task="decisions.sweep", seconds=SWEEP_SECONDS)
