"""Jobs of data in and out: imports too large to run inside the request."""
from __future__ import annotations

from celery import shared_task

from dataio.importing import WRITTEN_TABLES, run_import_job, vacuum_imported, vacuum_search_vectors
from dataio.records import RecordError
from tasks import jobs, text_search


@shared_task(name="dataio.import_items")
def import_items(job_id: int) -> None:
    jobs.run(job_id, run_import_job, expected=(RecordError,))


@shared_task(name="dataio.build_text_search")
def build_text_search(project_id: int, vacuum: bool = False) -> None:
    """Build one batch of an import's search vectors, then queue the next: other jobs queued meanwhile
    (a pre-label job, say) run between batches instead of waiting for a million items' vectors. With `vacuum`
    (a large import's), the table is vacuumed after the last batch."""
    if text_search.build_step(project_id):
        build_text_search.apply_async(args=[project_id, vacuum])
    elif vacuum:
        vacuum_search_vectors()


@shared_task(name="dataio.vacuum_imported")
def vacuum_after_import(tables: list[str] | None = None) -> None:
    """The tables a large import filled, vacuumed once it committed (`dataio.importing.vacuum_imported`); without
    `tables` (a message queued before they were named), every table an import writes."""
    vacuum_imported(WRITTEN_TABLES if tables is None else tables)


@shared_task(name="dataio.text_search_sweep")
def text_search_sweep() -> int:
    """Start the vector build of every project with pending ranges (its message was not sent, Redis was
    down, or a worker died mid-build); a build already running skips the ranges it holds. Answers how many."""
    projects = text_search.pending_projects()
    for project_id in projects:
        build_text_search.delay(project_id)
    return len(projects)
