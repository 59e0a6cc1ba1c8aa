from django.apps import AppConfig

IMPORT = "import"


class DataIOConfig(AppConfig):
    name = "dataio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tasks import jobs

        jobs.register_kind(IMPORT, task="dataio.import_items", label="Import")
