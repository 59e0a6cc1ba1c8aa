"""The streamed import (PostgreSQL, a project with nothing to collide with): records parsed while COPY asks for
more; tiny batches here, so that every batch end is crossed."""
from __future__ import annotations

import io
import time
from datetime import timedelta

import orjson
import pytest
from django.db import connection

from annotations.models import Annotation
from dataio import importing, item_ids
from dataio.readers import ReadOptions, read
from dataio.records import RecordError
from tasks.models import Item

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="the streamed import is PostgreSQL's")]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(importing, "STREAM_BATCH", 7)


def run(project, records: list[dict]) -> importing.ImportResult:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    return importing.import_into(project, read(io.BytesIO(body), "items.jsonl", importing.schema_of(project),
                                               ReadOptions()))


def test_every_record_goes_in_once_in_order_across_many_batches(project):
    records = [{"text": f"review {i}\twith a tab", "external_id": f"r{i}"} for i in range(40)]

    result = run(project, records)

    assert result.imported == 40
    items = list(Item.objects.filter(project=project).order_by("id").values_list("external_id", "data"))
    assert items == [(f"r{i}", {"text": f"review {i}\twith a tab"}) for i in range(40)]


def test_annotators_met_midway_are_looked_up_and_their_annotations_stored(project, annotator, annotator2):
    records = [{"text": f"plain {i}"} for i in range(10)]
    records += [{"data": {"text": "first"}, "annotations": [{"user": "ann", "value": {"label": "pos"}}]}]
    records += [{"text": f"plain {i}"} for i in range(10, 20)]
    records += [{"data": {"text": "second"}, "annotations": [{"user": "bob", "value": {"label": "neg"}},
                                                              {"user": "ann", "value": {"label": "neg"}}]}]
    records += [{"text": f"plain {i}"} for i in range(20, 25)]

    result = run(project, records)

    assert (result.imported, result.annotations) == (27, 3)
    texts = list(Item.objects.filter(project=project).order_by("id").values_list("data__text", flat=True))
    assert texts == [r.get("text") or r["data"]["text"] for r in records]
    second = Item.objects.get(project=project, data__text="second")
    assert sorted(Annotation.objects.filter(item=second).values_list("user__username", flat=True)) == ["ann", "bob"]


def test_a_bad_record_in_a_later_batch_names_itself_and_nothing_is_imported(project):
    records: list = [{"text": f"review {i}"} for i in range(30)]
    records[24] = {"data": "not an object"}

    with pytest.raises(RecordError) as caught:
        run(project, records)

    assert caught.value.record == 25 and caught.value.field == "data"
    assert not Item.objects.filter(project=project).exists()


def test_an_external_id_twice_in_different_batches_names_the_second_record(project):
    records = [{"text": f"review {i}", "external_id": f"r{i}"} for i in range(30)]
    records[20]["external_id"] = "r3"

    with pytest.raises(RecordError) as caught:
        run(project, records)

    assert caught.value.record == 21 and caught.value.field == "external_id"
    assert "'r3' appears twice" in caught.value.message
    assert not Item.objects.filter(project=project).exists()


def _copied_columns(monkeypatch) -> list[tuple[str, ...]]:
    """The column list of each COPY into tasks_item, recorded as the import goes."""
    seen, copy = [], importing._copy

    def spy(table, columns, source):
        if table == "tasks_item":
            seen.append(columns)
        return copy(table, columns, source)

    monkeypatch.setattr(importing, "_copy", spy)
    return seen


def test_plain_records_leave_the_columns_the_table_fills_out_of_their_copy(project, monkeypatch):
    monkeypatch.setattr(importing, "STREAM_BATCH", 100)
    copied = _copied_columns(monkeypatch)
    records = [{"text": f"plain {i}"} for i in range(3)]
    records += [{"data": {"text": "predicted"}, "prediction": {"value": {"label": "neg"}, "confidence": 0.55}}]
    records += [{"text": f"plain {i}"} for i in range(3, 5)]

    assert run(project, records).imported == 6

    # The plain records before the first other one in a COPY of their own; from there on, every column.
    assert copied == [importing._NARROW_COLUMNS, importing._ITEM_COLUMNS]
    items = list(Item.objects.filter(project=project).order_by("id"))
    assert [i.data["text"] for i in items] == [f"plain {i}" for i in range(3)] + ["predicted", "plain 3", "plain 4"]
    plain = [i for i in items if i.prediction is None]
    assert {(i.status, i.priority, i.needed, i.annotation_count, i.final_source, i.review_reason, i.gold,
             i.final_value, i.final_by_id, i.final_at, i.confidence) for i in plain} == {
        ("new", 0.0, project.overlap, 0, "", "", None, None, None, None, None)}
    # Every row of the import has the import's time, whether the database's default or the import gave it.
    assert len({i.created_at for i in items}) == 1
    assert all(i.updated_at == i.created_at for i in plain)


def test_a_batch_that_starts_with_another_record_copies_every_column(project, monkeypatch):
    monkeypatch.setattr(importing, "STREAM_BATCH", 100)
    copied = _copied_columns(monkeypatch)
    records = [{"data": {"text": "gold"}, "gold": {"label": "pos"}}] + [{"text": f"plain {i}"} for i in range(4)]

    assert run(project, records).imported == 5

    assert copied == [importing._ITEM_COLUMNS]
    assert Item.objects.filter(project=project, status="new").count() == 4


def test_the_narrow_copy_is_used_only_where_the_defaults_give_the_plain_row(project):
    now = importing._transaction_time()
    plain = importing._row(project, importing.Record(number=0, data={}, external_id=None, gold=None), now,
                           importing._Users())

    assert importing._defaults_stand_in(plain, now)
    assert not importing._defaults_stand_in({**plain, "status": "queued"}, now)
    assert not importing._defaults_stand_in({**plain, "priority": 0.5}, now)
    assert not importing._defaults_stand_in(plain, now - timedelta(seconds=1))  # another time than the table's


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _closed(pids: set[int]) -> bool:
    """Whether these backends are gone (a closed connection's backend exits shortly after)."""
    deadline = time.monotonic() + 5
    with connection.cursor() as cur:
        while True:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            if cur.fetchone()[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@pytest.fixture
def draws(monkeypatch) -> list[int]:
    """The backend that drew each batch of ids."""
    drawn: list[int] = []
    reserve = item_ids.reserve

    def recorded(n: int) -> list[int]:
        drawn.append(_backend_pid())
        return reserve(n)

    monkeypatch.setattr(item_ids, "reserve", recorded)
    return drawn


def test_after_a_full_batch_the_next_ones_ids_are_drawn_during_each_copy_on_a_connection_then_closed(project, draws):
    records = [{"text": f"review {i}", "external_id": f"r{i}"} for i in range(40)]  # 6 batches of 7

    result = run(project, records)

    own = _backend_pid()
    assert result.imported == 40
    assert draws[0] == own  # the first batch's: nothing to overlap with yet
    [other] = set(draws[1:])
    assert other != own and len(draws) == 7  # the other five batches', and one drawn ahead for nothing
    external_ids = list(Item.objects.filter(project=project).order_by("id").values_list("external_id", flat=True))
    assert external_ids == [f"r{i}" for i in range(40)]  # every id unique, in the records' order
    assert _closed({other}), "the connection that drew the ids was left open"


def test_an_import_of_one_batch_draws_its_ids_itself(project, draws):
    result = run(project, [{"text": f"review {i}"} for i in range(7)])

    assert result.imported == 7
    assert draws == [_backend_pid()]


def test_an_import_that_fails_after_drawing_ahead_leaves_no_connection_behind(project, draws):
    records: list = [{"text": f"review {i}"} for i in range(30)]
    records[24] = {"data": "not an object"}

    with pytest.raises(RecordError):
        run(project, records)

    others = set(draws) - {_backend_pid()}
    assert len(others) == 1
    assert _closed(others)
