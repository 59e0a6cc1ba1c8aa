"""The platform's own formats: JSON, JSON Lines and CSV, one record per item, nothing left out.

A record holds everything an import into a new project needs to rebuild the item:

    {"id", "external_id", "data", "status",
     "final": {"value", "source", "at", "by"} | null,    # by: the deciding reviewer's username, else null
     "gold": <value> | null,
     "annotations": [{"user", "value", "skipped", "lead_time", "time"}],   # in submission order
     "reviews": [{"reviewer", "value", "note", "reason", "time"}],        # reviewer decisions, in order
     "prediction": {"model_version", "value", "confidence", "scores"} | null,
     "review_reason", "needed", "created_at",
     "answers": {<question id>: <final answer> | null}}   # only in a project with rubric questions

Values have the shapes of `tasks.values`; times are ISO 8601 with their offset. CSV has one row per
item with the nested parts as JSON text in their cells, and a column `answers.<question id>` per rubric
question with the final value's answer (text as it is, other answers as JSON: 4, true, ["a", "b"]).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import orjson

from dataio.export.reading import Chunk

CSV_COLUMNS = ["id", "external_id", "status", "data", "final_value", "final_source", "prediction_value",
               "prediction_confidence", "model_version", "annotations", "final_at", "final_by", "gold",
               "prediction_scores", "reviews", "review_reason", "needed", "created_at"]


def raw(text: str | None):
    """JSON text from the database, written out as it is (no decoding and re-encoding)."""
    return None if text is None else orjson.Fragment(text)


def prediction(text: str | None) -> dict | None:
    """The export shape of an item's stored prediction snapshot (JSON text)."""
    if text is None:
        return None
    stored = orjson.loads(text)
    if not isinstance(stored, dict):
        return None
    return {"model_version": stored.get("model_version"), "value": stored.get("value"),
            "confidence": stored.get("confidence"), "scores": stored.get("scores")}


def final_answers(row, questions: Sequence[str]) -> dict:
    """The rubric answers of an item row's final value, one per question id (None where not answered)."""
    final = orjson.loads(row.final_value_json) if row.final_value_json else None
    given = final.get("answers") if isinstance(final, dict) else None
    given = given if isinstance(given, dict) else {}
    return {q: given.get(q) for q in questions}


def record(row, chunk: Chunk, questions: Sequence[str] = ()) -> dict:
    """The export record of one item row of `chunk`; `questions`: the project's rubric question ids."""
    out = {
        "id": row.id,
        "external_id": row.external_id,
        "data": raw(row.data_json),
        "status": row.status,
        "final": {"value": raw(row.final_value_json), "source": row.final_source, "at": row.final_at,
                  "by": chunk.username(row.final_by_id)} if row.final_source else None,
        "gold": raw(row.gold_json),
        "annotations": [
            {"user": chunk.username(a.user_id), "value": raw(a.value_json), "skipped": a.skipped,
             "lead_time": a.lead_time, "time": a.created_at}
            for a in chunk.annotations.get(row.id, ())
        ],
        "reviews": [
            {"reviewer": chunk.username(r.reviewer_id), "value": raw(r.value_json), "note": r.note,
             "reason": r.reason, "time": r.created_at}
            for r in chunk.reviews.get(row.id, ())
        ],
        "prediction": prediction(row.prediction_json),
        "review_reason": row.review_reason,
        "needed": row.needed,
        "created_at": row.created_at,
    }
    if questions:
        out["answers"] = final_answers(row, questions)
    return out


def write_jsonl(chunks: Iterator[Chunk], questions: Sequence[str] = ()) -> Iterator[bytes]:
    """One record a line, a chunk of lines at a time."""
    for chunk in chunks:
        yield b"".join([orjson.dumps(record(row, chunk, questions), option=orjson.OPT_APPEND_NEWLINE)
                        for row in chunk.items])


def write_json(chunks: Iterator[Chunk], questions: Sequence[str] = ()) -> Iterator[bytes]:
    """A JSON array of records, a chunk of them at a time."""
    yield b"["
    first = True
    for chunk in chunks:
        body = b",\n".join([orjson.dumps(record(row, chunk, questions)) for row in chunk.items])
        yield body if first else b",\n" + body
        first = False
    yield b"]\n"


def write_csv(chunks: Iterator[Chunk], questions: Sequence[str] = ()) -> Iterator[bytes]:
    """The header, then a row per record, a chunk of rows at a time."""
    def cell(value) -> str:
        return "" if value is None else orjson.dumps(value).decode()

    def answer(value) -> str:
        return value if isinstance(value, str) else cell(value)

    def iso(moment) -> str:
        return "" if moment is None else moment.isoformat()

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_COLUMNS, *(f"answers.{q}" for q in questions)])
    for chunk in chunks:
        for row in chunk.items:
            r = record(row, chunk, questions)
            final, pred = r["final"] or {}, r["prediction"] or {}
            writer.writerow([
                r["id"], r["external_id"], r["status"], row.data_json, row.final_value_json or "",
                final.get("source", ""), cell(pred.get("value")), pred.get("confidence", ""),
                pred.get("model_version", ""), cell(r["annotations"]), iso(final.get("at")), final.get("by") or "",
                row.gold_json or "", cell(pred.get("scores")), cell(r["reviews"]), r["review_reason"], r["needed"],
                iso(r["created_at"]), *(answer(a) for a in r.get("answers", {}).values()),
            ])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
