"""An import's items reference one project (and a final value its reviewer): those rows are held once, as each
per-row foreign-key check would hold them, and COPY checks no key row by row where the database role may say so
(`common.row_checks`); any other role imports with the checks row by row."""
from __future__ import annotations

import io

import orjson
import psycopg2
import pytest
from django.db import connection

from common import row_checks
from dataio import importing
from dataio.readers import ReadOptions, read
from tasks.models import Item

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY and its key checks are PostgreSQL's")


def _records(n: int) -> list[dict]:
    return [{"text": f"review {i}"} for i in range(n)]


def _import(project, records) -> importing.ImportResult:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    return importing.import_into(project, read(io.BytesIO(body), "items.jsonl", importing.schema_of(project),
                                               ReadOptions()))


def _project_looked_up() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'tasks_project'")
        return cur.fetchone()[0]


def _key_checks_per_item(project) -> float:
    """How often the transaction looks the project up (as each per-row foreign-key check does) for each item an
    import adds: the look-ups of an import of 80 items less those of an import of 40, divided by 40; the
    deferred checks a commit would run are run (SET CONSTRAINTS ALL IMMEDIATE) before counting."""
    counts = []
    for n in (40, 80):
        before = _project_looked_up()
        assert _import(project, _records(n)).imported == n
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        counts.append(_project_looked_up() - before)
    return (counts[1] - counts[0]) / 40


@pytest.fixture
def role_without_the_right(db):
    """The rest of the test runs as a role that may write the tables but not set session_replication_role."""
    with connection.cursor() as cur:
        cur.execute("CREATE ROLE hitl_plain_importer NOSUPERUSER")
        cur.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO hitl_plain_importer")
        cur.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO hitl_plain_importer")
        cur.execute("SET LOCAL ROLE hitl_plain_importer")
    return "hitl_plain_importer"


@pytest.mark.django_db
def test_an_import_checks_its_project_once_not_once_per_item(project):
    assert row_checks.may_skip()  # the test database's role is a superuser

    assert _key_checks_per_item(project) < 0.5  # none per item (the first import looks it up a few times more)
    assert Item.objects.filter(project=project).count() == 120


@pytest.mark.django_db
def test_a_role_without_the_right_imports_with_a_check_per_item(project, role_without_the_right):
    assert not row_checks.may_skip()

    assert _key_checks_per_item(project) > 0.5  # about one per item
    assert Item.objects.filter(project=project).count() == 120


@pytest.mark.django_db
def test_a_role_granted_the_setting_skips_the_checks_per_item(project, role_without_the_right):
    with connection.cursor() as cur:
        cur.execute("RESET ROLE")
        cur.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role_without_the_right}")
        cur.execute(f"SET LOCAL ROLE {role_without_the_right}")

    assert row_checks.may_skip()
    assert _key_checks_per_item(project) < 0.5  # none per item (the first import looks it up a few times more)


@pytest.mark.django_db
def test_after_the_items_the_import_s_other_writes_fire_their_triggers_again(project):
    _import(project, _records(3))

    with connection.cursor() as cur:
        cur.execute("SHOW session_replication_role")
        assert cur.fetchone()[0] == "origin"


def _locked_elsewhere(table: str, pk: int) -> bool:
    """Whether another connection finds the row locked against its deletion."""
    settings = connection.settings_dict
    other = psycopg2.connect(dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"],
                             host=settings["HOST"], port=settings["PORT"])
    try:
        with other.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])
            return False
    except psycopg2.errors.LockNotAvailable:
        return True
    finally:
        other.rollback()
        other.close()


@pytest.mark.django_db(transaction=True)
def test_nobody_can_delete_the_project_or_a_final_value_s_reviewer_while_the_import_runs(project, reviewer,
                                                                                          monkeypatch):
    monkeypatch.setattr(importing, "STREAM_BATCH", 4)
    seen: list[tuple[bool, bool]] = []
    store_annotations = importing._insert_annotations

    def after_each_batch(*args):  # inside the import's transaction
        seen.append((_locked_elsewhere("tasks_project", project.pk), _locked_elsewhere("accounts_user", reviewer.pk)))
        return store_annotations(*args)

    monkeypatch.setattr(importing, "_insert_annotations", after_each_batch)
    records = [{"data": {"text": "reviewed"}, "final": {"value": {"label": "pos"}, "source": "reviewer",
                                                       "by": reviewer.username}}] + _records(10)

    assert _import(project, records).imported == 11

    assert len(seen) >= 3 and all(seen)
    assert Item.objects.get(project=project, final_source="reviewer").final_by == reviewer
    assert not _locked_elsewhere("tasks_project", project.pk)  # released by the commit
