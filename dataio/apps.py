from django.apps import AppConfig

IMPORT = "import"


class DataIOConfig(AppConfig):
    name = "dataio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tasks import jobs

        jobs.register_kind(IMPORT, task="dataio.import_items", label="Import")
        # Search vectors an import left pending are built by a job it sends after commit; this sweep
        # starts the builds whose message was lost (tasks.text_search).
        jobs.register_periodic("text-search-sweep", task="dataio.text_search_sweep", seconds=60.0)
