"""Streaming export: items in id order, a chunk at a time, in constant memory.

Each chunk costs two queries (items, then their annotations), whatever its size.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator

import orjson

from accounts.models import User
from annotations.models import Annotation
from tasks.models import Item, Project

CHUNK = 2000
FORMATS = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = ["id", "external_id", "status", "data", "final_value", "final_source", "prediction_value",
               "prediction_confidence", "model_version", "annotations"]

_ITEM_FIELDS = ("id", "external_id", "data", "status", "final_value", "final_source", "final_at", "prediction")


def iter_records(project: Project, status: str | None = None) -> Iterator[dict]:
    """One export record per item, in id order."""
    usernames: dict[int, str] = {}
    last_id = 0
    while True:
        qs = Item.objects.filter(project=project, id__gt=last_id)
        if status:
            qs = qs.filter(status=status)
        rows = list(qs.order_by("id").values(*_ITEM_FIELDS)[:CHUNK])
        if not rows:
            return
        last_id = rows[-1]["id"]
        by_item: dict[int, list[dict]] = defaultdict(list)
        annotations = Annotation.objects.filter(
            project=project, item_id__gte=rows[0]["id"], item_id__lte=last_id
        ).order_by("id").values("item_id", "user_id", "value", "skipped", "lead_time", "created_at")
        for a in annotations:
            by_item[a["item_id"]].append(a)
        missing = {a["user_id"] for group in by_item.values() for a in group} - usernames.keys()
        if missing:
            usernames.update(User.objects.filter(id__in=missing).values_list("id", "username"))
        for row in rows:
            yield _record(row, by_item.get(row["id"], ()), usernames)


def _record(row: dict, annotations, usernames: dict[int, str]) -> dict:
    prediction = row["prediction"]
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "data": row["data"],
        "status": row["status"],
        "final": {"value": row["final_value"], "source": row["final_source"], "at": row["final_at"]}
        if row["final_source"] else None,
        "annotations": [
            {"user": usernames.get(a["user_id"]), "value": a["value"], "skipped": a["skipped"],
             "lead_time": a["lead_time"], "time": a["created_at"]}
            for a in annotations
        ],
        "prediction": {"model_version": prediction.get("model_version"), "value": prediction.get("value"),
                       "confidence": prediction.get("confidence")} if prediction else None,
    }


def _batched(records: Iterator[dict], size: int = 500) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _jsonl(records: Iterator[dict]) -> Iterator[bytes]:
    for batch in _batched(records):
        yield b"".join(orjson.dumps(r) + b"\n" for r in batch)


def _json(records: Iterator[dict]) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in _batched(records):
        body = b",\n".join(orjson.dumps(r) for r in batch)
        yield body if first else b",\n" + body
        first = False
    yield b"]\n"


def _csv(records: Iterator[dict]) -> Iterator[bytes]:
    def cell(value) -> str:
        return "" if value is None else orjson.dumps(value).decode()

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in _batched(records):
        for r in batch:
            final, prediction = r["final"] or {}, r["prediction"] or {}
            writer.writerow([
                r["id"], r["external_id"], r["status"], cell(r["data"]), cell(final.get("value")),
                final.get("source", ""), cell(prediction.get("value")), prediction.get("confidence", ""),
                prediction.get("model_version", ""), cell(r["annotations"]),
            ])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


_WRITERS = {"json": _json, "jsonl": _jsonl, "csv": _csv}


def export(project: Project, fmt: str, status: str | None = None) -> tuple[str, Iterator[bytes]]:
    """The content type and byte chunks of a project's export in `fmt`."""
    return FORMATS[fmt], _WRITERS[fmt](iter_records(project, status))
