"""JSON and JSON Lines written by PostgreSQL (dataio/export/jsonl_sql.py) are the records the Python
path writes (records.py, SQLite's path): byte for byte, filters, chunks and snapshot alike."""
from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from django.db import connection

from annotations.models import Annotation, ReviewDecision
from dataio.export import Filters, jsonl_sql, parse_filters, reading
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project, make_user
from tests.dataio.export_helpers import body_of, export

pytestmark = pytest.mark.django_db

TRICKY = 'He said "hi", then: left;\nnaïve ☃ \u2028 \\ tab\t \x01 end {"a": 1}'
QUESTIONS = [{"id": "helpful", "type": "rating", "scale": 5, "text": "Helpful?", "required": False,
              "labels": ["1", "2", "3", "4", "5"]},
             {"id": 'odd "id", with: punctuation', "type": "text", "text": "Why?", "required": False,
              "min_length": 0}]
LEAD_TIMES = [None, 0.0, 3.0, 2.5, 0.1 + 0.2, 1e-7, 1e-5, 1.5e-5, 9.99e-6, 1e-4, 123456.789, 1e15, 1234567890123456.0,
              1e16, 1.5e16, 1e300, 5e-324]


@pytest.fixture
def rich(admin, annotator, annotator2, reviewer):
    """A rubric project whose items hold every kind of value a record has."""
    project = make_project(admin, [annotator, annotator2, reviewer], questions=QUESTIONS)
    odd = make_user('o"dd, name', "annotator")
    items = make_items(project, len(LEAD_TIMES) + 3)
    base = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)
    for n, item in enumerate(items):
        fields = {"created_at": base + timedelta(days=n, microseconds=(0, 1, 500000, 123456)[n % 4])}
        if n % 3 == 0:
            fields.update(status=ItemStatus.DONE, final_source=FinalSource.REVIEWER, final_by=reviewer,
                          final_at=base + timedelta(hours=n, microseconds=n * 10),
                          final_value={"label": "pos", "answers": {"helpful": n, QUESTIONS[1]["id"]: TRICKY}})
        elif n % 3 == 1:
            fields.update(status=ItemStatus.DONE, final_source=FinalSource.CONSENSUS, final_at=None,
                          final_value={"label": "neg", "answers": ["not", "an", "object"]})
        if n % 4 == 0:
            fields.update(external_id=f'e-{n} "{TRICKY}"', data={"text": TRICKY, "n": n, "nested": {"b": [1, 2.5]}})
        if n % 5 == 0:
            fields.update(gold={"label": "pos"})
        if n % 2 == 0:
            fields.update(prediction={"model_version": n, "value": {"label": "pos", "note": TRICKY},
                                      "confidence": 0.61, "scores": {"pos": 0.61, "neg": 0.39, "x, y": [0.5, 1]}},
                          confidence=0.61, review_reason="low_agreement" if n % 4 else "")
        elif n % 3 == 0:
            fields.update(prediction=["not", "an", "object"])
        elif n % 7 == 1:
            fields.update(prediction={"value": None})  # keys missing
        Item.objects.filter(pk=item.pk).update(**fields)
    for n, lead_time in enumerate(LEAD_TIMES):
        Annotation.objects.create(project=project, item=items[n], user=annotator, lead_time=lead_time,
                                  value=None if n % 5 == 4 else {"label": "pos", "note": TRICKY}, skipped=n % 5 == 4)
        if n % 2:
            Annotation.objects.create(project=project, item=items[n], user=odd, value={"label": "neg"})
        if n % 3 == 0:
            ReviewDecision.objects.create(project=project, item=items[n], reviewer=reviewer, value={"label": "pos"},
                                          note=TRICKY if n % 2 else "", reason="disagreement")
            ReviewDecision.objects.create(project=project, item=items[n], reviewer=reviewer, value={"label": "neg"},
                                          note="again", reason="audit")
    return project


def python_path(project, filters=Filters(), *, fmt="jsonl") -> bytes:
    """What the Python path (SQLite's) writes."""
    from dataio.export import records
    writer = records.write_jsonl if fmt == "jsonl" else records.write_json
    return b"".join(writer(reading.iter_chunks(project, filters), [q["id"] for q in project.questions]))


def test_the_lines_are_those_of_the_python_path_byte_for_byte(rich):
    written = b"".join(text + b"\n" for text in jsonl_sql.iter_text(rich, Filters(), [q["id"] for q in QUESTIONS]))

    expected = python_path(rich)
    # The one difference allowed: numbers in a prediction or an answer that orjson spells otherwise;
    # this project has none.
    assert written == expected
    records = [json.loads(line) for line in written.splitlines()]
    assert len(records) == Item.objects.filter(project=rich).count()
    assert records[0]["answers"] == {"helpful": 0, QUESTIONS[1]["id"]: TRICKY}
    assert records[1]["answers"] == {"helpful": None, QUESTIONS[1]["id"]: None}
    assert [a["lead_time"] for r in records for a in r["annotations"] if a["user"] == "ann"] == [
        None if t is None else t for t in LEAD_TIMES]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_the_api_writes_them_in_chunks_with_the_same_bytes(as_user, admin, rich, monkeypatch, fmt):
    monkeypatch.setattr(jsonl_sql, "CHUNK", 4)

    body = body_of(export(as_user(admin), rich, fmt)).encode()

    assert body == python_path(rich, fmt=fmt)
    monkeypatch.setattr(jsonl_sql, "available", lambda: False)  # SQLite's path, through the API
    assert body_of(export(as_user(admin), rich, fmt)).encode() == body


@pytest.mark.parametrize("params", [
    {"status": ["done"]}, {"status": ["new,queued"]}, {"source": ["reviewer"]}, {"only_final": ["true"]},
    {"since": ["2024-05-05"]}, {"until": ["2024-05-09"]}, {"only_final": ["true"], "since": ["2024-05-02T12:00:00Z"]},
    {"source": ["consensus"], "until": ["2030-01-01"]},
])
def test_filters_select_the_same_items_in_every_chunk(rich, monkeypatch, params):
    filters = parse_filters(params)
    monkeypatch.setattr(jsonl_sql, "CHUNK", 3)
    counted: list[int] = []

    written = b"".join(text + b"\n" for text in jsonl_sql.iter_text(
        rich, filters, [q["id"] for q in QUESTIONS], progress=counted.append))

    assert written == python_path(rich, filters)
    assert sum(counted) == reading.count(rich, filters) == len(written.splitlines())
    assert all(n <= 3 for n in counted)


def test_other_projects_are_left_out(admin, rich):
    other = make_project(admin, name="Other")
    [item] = make_items(other, 1)
    Annotation.objects.create(project=other, item=item, user=admin, value={"label": "pos"})

    def ids(project) -> list[int]:
        text = b"".join(text + b"\n" for text in jsonl_sql.iter_text(project, Filters()))
        return [json.loads(line)["id"] for line in text.splitlines()]

    assert ids(other) == [item.pk]
    assert ids(rich) == list(Item.objects.filter(project=rich).order_by("id").values_list("id", flat=True))


def test_an_empty_selection_writes_nothing(project):
    assert list(jsonl_sql.iter_text(project, Filters())) == []


def test_floats_are_spelled_as_orjson_spells_them():
    """Byte for byte below 1e16; from there on (a lead time of 300 million years) PostgreSQL may
    write more digits of the same number."""
    rnd = random.Random(20)
    values = [0.0, -0.0, 1.0, -3.0, 1e-5, 1e-4, 9.999999999999999e-6, 1e15, 9999999999999998.0, 1e16, 1e300,
              float("nan"), float("inf"), float("-inf"), 2.2250738585072014e-308, 1.7976931348623157e308, 5e-324]
    values += [rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30) for _ in range(3000)]
    values += [float(rnd.randint(-10**16, 10**16)) for _ in range(300)]
    values += [round(rnd.uniform(0, 100), rnd.randint(0, 6)) for _ in range(300)]
    with connection.cursor() as cursor:
        # As text, which keeps -0.0's sign (a numeric literal would not).
        cursor.execute(f"SELECT {jsonl_sql._float('x')} FROM unnest(%s::text[]::float8[]) WITH ORDINALITY AS t(x, n) "
                       "ORDER BY n", [[repr(v) for v in values]])
        written = [row[0] for row in cursor.fetchall()]

    expected = [orjson.dumps(v).decode() for v in values]
    assert [w for v, w in zip(values, written) if not abs(v) >= 1e16] == [
        e for v, e in zip(values, expected) if not abs(v) >= 1e16]
    assert all(float(w) == v for v, w in zip(values, written) if abs(v) >= 1e16 and math.isfinite(v))
    assert written[values.index(1e16)] == "1e+16"
