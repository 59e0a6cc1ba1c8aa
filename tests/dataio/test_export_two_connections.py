"""A long JSON / JSON Lines export in its own snapshot is written on two PostgreSQL connections
(dataio/export/jsonl_sql.py): the same bytes as on one, the same snapshot on both, and the second
connection closed however the export ends."""
from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction

from dataio import export as exporting
from dataio.export import jsonl_sql, parse_filters, reading
from tasks.models import Item
from tests.dataio.export_helpers import export as api_export
from tests.dataio.test_export_sql import QUESTIONS, python_path, rich  # noqa: F401  (rich: a fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # committed data: what a second connection can see


@pytest.fixture
def second_connections(monkeypatch):
    """Every second connection an export opens, with its server process id; chunks of 3 items."""
    monkeypatch.setattr(jsonl_sql, "CHUNK", 3)
    opened: list[tuple] = []
    open_connection = jsonl_sql._connection_in_snapshot

    def spy(snapshot):
        second = open_connection(snapshot)
        opened.append((second, second.connection.get_backend_pid()))
        return second

    monkeypatch.setattr(jsonl_sql, "_connection_in_snapshot", spy)
    return opened


def body(project, fmt="jsonl", **kwargs) -> bytes:
    return b"".join(exporting.export(project, fmt, **kwargs).chunks)


def lane_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("export-lane")]


def backend_gone(pid: int) -> bool:
    """The server process of a closed connection exits a moment later."""
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if not cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_two_connections_write_the_bytes_of_one(rich, second_connections, fmt):  # noqa: F811
    two = body(rich, fmt)

    assert len(second_connections) == 1
    with transaction.atomic():  # a caller's transaction: one connection, that transaction's view
        one = body(rich, fmt)
    assert len(second_connections) == 1
    assert two == one == python_path(rich, fmt=fmt)
    assert all(second.connection is None for second, _ in second_connections)
    assert lane_threads() == []


@pytest.mark.parametrize("params", [{"status": ["done"]}, {"source": ["reviewer"]}, {"until": ["2024-05-12"]}])
def test_filters_and_progress_on_two_connections(rich, second_connections, params):  # noqa: F811
    filters = parse_filters(params)
    counted: list[int] = []

    written = body(rich, filters=filters, progress=counted.append)

    assert written == python_path(rich, filters)
    assert sum(counted) == reading.count(rich, filters) == len(written.splitlines())
    assert all(n <= 3 for n in counted)


def test_only_an_export_of_more_than_a_few_chunks_uses_two(rich, second_connections):  # noqa: F811
    count = Item.objects.filter(project=rich).count()
    jsonl_sql.CHUNK = -(-count // jsonl_sql.PARALLEL_FROM)  # PARALLEL_FROM chunks, the last one maybe shorter

    assert body(rich) == python_path(rich)
    assert second_connections == []
    jsonl_sql.CHUNK -= 1  # one chunk more
    assert body(rich) == python_path(rich)
    assert len(second_connections) == 1


def test_both_connections_read_the_snapshot_of_the_export_start(rich, second_connections):  # noqa: F811
    ids = list(Item.objects.filter(project=rich).order_by("id").values_list("id", flat=True))
    chunks = exporting.export(rich, "jsonl").chunks
    written = [next(chunks)]  # the export has started; its next chunks are being written

    writer = connections.create_connection(connection.alias)  # someone labeling meanwhile
    try:
        with writer.cursor() as cursor:
            cursor.execute("UPDATE tasks_item SET data = '{\"text\": \"changed\"}' WHERE project_id = %s", [rich.pk])
    finally:
        writer.close()
    written += list(chunks)

    records = [json.loads(line) for line in b"".join(written).splitlines()]
    assert [r["id"] for r in records] == ids
    assert not [r for r in records if r["data"] == {"text": "changed"}]
    assert len(ids) > 4 * jsonl_sql.CHUNK  # chunks from both connections were written after the change
    assert all(r["data"] == {"text": "changed"} for r in map(json.loads, body(rich).splitlines()))


def test_the_second_connection_is_closed_when_the_reader_stops(rich, second_connections):  # noqa: F811
    chunks = exporting.export(rich, "jsonl").chunks
    next(chunks)
    [(second, pid)] = second_connections
    assert second.connection is not None

    chunks.close()  # what a streamed response does when its client goes away

    assert second.connection is None
    assert backend_gone(pid)
    assert not connection.in_atomic_block  # the export's snapshot transaction is over too
    assert lane_threads() == []


def test_the_api_closes_it_when_the_client_goes_away(as_user, admin, rich, second_connections):  # noqa: F811
    response = api_export(as_user(admin), rich, "jsonl")
    stream = iter(response.streaming_content)
    first = next(stream)
    [(second, pid)] = second_connections

    response.close()  # the WSGI server's call when the client has disconnected

    assert json.loads(first.splitlines()[0])["id"] == Item.objects.filter(project=rich).order_by("id")[0].pk
    assert second.connection is None
    assert backend_gone(pid)


def test_an_error_on_a_connection_ends_the_export_and_closes_it(rich, second_connections, monkeypatch):  # noqa: F811
    write = jsonl_sql._Query.text
    fourth = list(Item.objects.filter(project=rich).order_by("id").values_list("id", flat=True))[3 * jsonl_sql.CHUNK]

    def fail_on_the_fourth_chunk(self, cursor, after, through, size):
        if after >= fourth - 1:
            raise RuntimeError("the database went away")
        return write(self, cursor, after, through, size)

    monkeypatch.setattr(jsonl_sql._Query, "text", fail_on_the_fourth_chunk)

    with pytest.raises(RuntimeError, match="went away"):
        body(rich)
    [(second, pid)] = second_connections
    assert second.connection is None
    assert backend_gone(pid)
