"""Jobs of data in and out: imports too large to run inside the request."""
from __future__ import annotations

from celery import shared_task

from dataio.importing import run_import_job
from dataio.records import RecordError
from tasks import jobs


@shared_task(name="dataio.import_items")
def import_items(job_id: int) -> None:
    jobs.run(job_id, run_import_job, expected=(RecordError,))
