"""A large import is vacuumed by a job once it commits: its rows' first readers (an export, `next`) no longer pay
for checking the import's transaction on every row."""
from __future__ import annotations

import io

import orjson
import pytest
from django.db import connection

from dataio import celery_tasks, importing
from dataio.readers import ReadOptions, read

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="VACUUM is PostgreSQL's")


def _import(project, n: int, annotated_by=None) -> None:
    """`n` records, each with an annotation of `annotated_by` where given."""
    annotations = [] if annotated_by is None else [{"user": annotated_by.username, "value": {"label": "pos"}}]
    body = b"".join(orjson.dumps({"data": {"text": f"review {i}"}, "annotations": annotations}) + b"\n"
                    for i in range(n))
    importing.import_into(project, read(io.BytesIO(body), "items.jsonl", importing.schema_of(project), ReadOptions()))


@pytest.fixture
def sent(monkeypatch):
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr(importing.current_app, "send_task", lambda name, args: calls.append((name, args)))
    return calls


@pytest.mark.django_db
def test_a_large_import_queues_the_vacuum_of_its_tables_after_commit(project, monkeypatch, sent,
                                                                    django_capture_on_commit_callbacks):
    monkeypatch.setattr(importing, "ANALYZE_AFTER", 20)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _import(project, 20)
    assert not sent  # nothing before the commit
    for callback in callbacks:
        callback()
    assert (importing.VACUUM_TASK, [["tasks_item"]]) in sent  # the items only: no annotation came with them
    assert celery_tasks.vacuum_after_import.name == importing.VACUUM_TASK  # a worker knows the job by that name


class _Analyzes(list):
    """The ANALYZE statements run while it is installed (`connection.execute_wrapper`)."""

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("ANALYZE"):
            self.append(sql)
        return execute(sql, params, many, context)


@pytest.mark.django_db
def test_a_large_import_of_plain_items_refreshes_the_statistics_of_the_items_alone(project, monkeypatch, sent):
    """The leases table the import left empty keeps its statistics: analyzed empty, the queue's prepared statements
    would scan it whole for every candidate item as it fills."""
    monkeypatch.setattr(importing, "ANALYZE_AFTER", 20)
    analyzes = _Analyzes()
    with connection.execute_wrapper(analyzes):
        _import(project, 20)
    assert analyzes == ["ANALYZE tasks_item"]


@pytest.mark.django_db
def test_a_large_annotated_import_refreshes_the_statistics_of_the_annotations_and_leases_too(
        project, monkeypatch, sent, annotator, django_capture_on_commit_callbacks):
    monkeypatch.setattr(importing, "ANALYZE_AFTER", 20)
    analyzes = _Analyzes()
    with connection.execute_wrapper(analyzes), django_capture_on_commit_callbacks(execute=True):
        _import(project, 20, annotated_by=annotator)
    assert analyzes == ["ANALYZE tasks_item, annotations_annotation, tasks_assignment"]
    assert (importing.VACUUM_TASK, [["tasks_item", "annotations_annotation", "tasks_assignment"]]) in sent


@pytest.mark.django_db
def test_a_small_import_leaves_its_tables_to_autovacuum(project, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _import(project, 20)
    assert importing.VACUUM_TASK not in [name for name, _ in sent]


def _vacuumed_by(vacuum) -> set[str]:
    """The tables `vacuum()` vacuumed (outside a transaction)."""
    with connection.cursor() as cur:
        cur.execute("SELECT now()")
        (started,) = cur.fetchone()
        vacuum()
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum >= %s", [started])
        return {name for (name,) in cur.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_vacuum_job_vacuums_the_tables_it_is_given_or_every_table_an_import_writes(project):
    _import(project, 300)
    every = {"tasks_item", "annotations_annotation", "tasks_assignment"}
    assert every <= _vacuumed_by(celery_tasks.vacuum_after_import)  # a message without tables
    assert _vacuumed_by(lambda: celery_tasks.vacuum_after_import(["tasks_item"])) == {"tasks_item"}


def test_the_vacuum_job_takes_no_other_table():
    with pytest.raises(ValueError, match="not a table an import writes"):
        importing.vacuum_imported(["tasks_item; DROP TABLE tasks_item"])


@pytest.mark.django_db
def test_a_large_import_s_search_vectors_are_vacuumed_once_built(project, monkeypatch, sent,
                                                                django_capture_on_commit_callbacks):
    monkeypatch.setattr(importing, "ANALYZE_AFTER", 20)
    with django_capture_on_commit_callbacks(execute=True):
        _import(project, 20)
        _import(project, 5)
    assert (importing.BUILD_SEARCH_TASK, [project.pk, True]) in sent
    assert (importing.BUILD_SEARCH_TASK, [project.pk, False]) in sent  # a small one's are left to autovacuum
    vacuumed = []
    monkeypatch.setattr(celery_tasks, "vacuum_search_vectors", lambda: vacuumed.append(True))
    queued = []
    monkeypatch.setattr(celery_tasks.build_text_search, "apply_async", lambda args: queued.append(args))

    celery_tasks.build_text_search(project.pk, True)  # the first import's range: the second one's waits
    assert queued == [[project.pk, True]] and vacuumed == []
    celery_tasks.build_text_search(project.pk, True)  # the last range
    assert queued == [[project.pk, True]] and vacuumed == [True]


@pytest.mark.django_db(transaction=True)
def test_the_search_vectors_vacuum_vacuums_their_table(project):
    assert "tasks_itemtext" in _vacuumed_by(importing.vacuum_search_vectors)
